/* Where the grid worker is, from the phone, only when they ask: "Nearest first" orders today's
   visits from here; "Record where I am" adds the place to a visit, which the supervisor reads as a
   distance from the person's address. Without JavaScript (or permission) neither shows or is sent. */
(function () {
  "use strict";
  if (!navigator.geolocation) return;
  function here(done) {
    navigator.geolocation.getCurrentPosition(function (position) {
      done(position.coords.latitude.toFixed(5), position.coords.longitude.toFixed(5));
    }, function () { done(null, null); }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }
  var nearest = document.querySelector("[data-nearest]");
  if (nearest) {
    nearest.hidden = false;
    nearest.addEventListener("click", function () {
      here(function (latitude, longitude) {
        if (latitude === null) return;
        var url = new URL(window.location.href);
        url.searchParams.set("near", latitude + "," + longitude);
        window.location.assign(url.toString());
      });
    });
  }
  var withPlace = document.querySelector("[data-with-place]");
  if (withPlace) {
    withPlace.hidden = false;
    var box = withPlace.querySelector("input[type=checkbox]");
    var form = withPlace.closest("form");
    box.addEventListener("change", function () {
      form.elements.latitude.value = form.elements.longitude.value = "";
      if (!box.checked) return;
      here(function (latitude, longitude) {
        if (latitude === null) { box.checked = false; return; }
        form.elements.latitude.value = latitude;
        form.elements.longitude.value = longitude;
      });
    });
  }
})();
