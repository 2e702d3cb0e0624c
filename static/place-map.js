// The map of templates/_place.html: it opens on the chosen grid's centre, and a click (or a tap)
// places the pin, which writes the latitude and longitude fields the form sends. Typing in those
// fields moves the pin; emptying both removes it, and the place is then the grid's centre again.
// Without JavaScript, or without a tile source, the fields alone do the same.
(function () {
  "use strict";
  var box = document.querySelector(".place-map[data-tiles]");
  if (!box || !window.L) {
    return;
  }
  var form = box.closest("form");
  var latitude = form.querySelector("[name=latitude]");
  var longitude = form.querySelector("[name=longitude]");
  var area = form.querySelector("[name=area_id]");
  var centres = JSON.parse(box.dataset.centres || "{}");
  var details = box.closest("details");
  var pin = null;
  var map = null;

  function typed() {
    var lat = parseFloat(latitude.value);
    var lng = parseFloat(longitude.value);
    return isFinite(lat) && isFinite(lng) && Math.abs(lat) <= 90 && Math.abs(lng) <= 180 ? [lat, lng] : null;
  }

  function place(point) {
    if (pin) {
      pin.setLatLng(point);
    } else {
      pin = window.L.marker(point).addTo(map);
    }
  }

  function start() {
    box.hidden = false;
    var here = typed();
    var centre = centres[area.value] || here || [34.2658, 108.9541]; // nothing chosen: Xi'an
    map = window.L.map(box).setView(here || centre, here ? 16 : 14);
    window.L.tileLayer(box.dataset.tiles, { attribution: box.dataset.attribution, maxZoom: 19 }).addTo(map);
    if (here) {
      place(here);
    }
    map.on("click", function (event) {
      latitude.value = event.latlng.lat.toFixed(6);
      longitude.value = event.latlng.lng.toFixed(6);
      place([event.latlng.lat, event.latlng.lng]);
    });
    [latitude, longitude].forEach(function (field) {
      field.addEventListener("change", function () {
        var point = typed();
        if (point) {
          place(point);
          map.setView(point);
        } else if (!latitude.value && !longitude.value && pin) {
          pin.remove();
          pin = null;
        }
      });
    });
    area.addEventListener("change", function () {
      if (!pin && centres[area.value]) {
        map.setView(centres[area.value], 14);
      }
    });
  }

  // A map drawn inside closed <details> has no size: draw it when the section opens.
  if (details && !details.open) {
    details.addEventListener("toggle", function () {
      if (details.open && !map) {
        start();
      }
    });
  } else {
    start();
  }
})();
