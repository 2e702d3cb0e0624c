"""Every column of the database, classified (security.md item 36). A test fails for any column left
out, so a new field cannot arrive without someone deciding how sensitive it is.

- part2: identifies a person in a drug programme, or tells of their drug use and treatment
  (42 CFR Part 2 records; PIPL sensitive personal information). Never in logs or the audit trail;
  anonymised at the end of retention; shown to providers only as consent and the disclosure table allow.
- sensitive: about a person in the programme, but not identifying on its own (needs, schedule, area).
- personal: about staff, providers and volunteers (contact details, credentials).
- internal: the portal's own data (ids, states, times, catalogue of offers, areas).

Every part2 text column is encrypted at rest (portal/crypto.py); tests/portal/test_classification.py
lists the part2 columns left clear, each with the reason.
"""

from typing import Final

PART2: Final = "part2"
SENSITIVE: Final = "sensitive"
PERSONAL: Final = "personal"
INTERNAL: Final = "internal"

_CLASSES: dict[str, dict[str, str]] = {
    "area": {INTERNAL: "id parent_id level name_en name_zh code latitude longitude"},
    "organization": {
        PERSONAL: "phone email contact_person contact_phone",
        INTERNAL: (
            "id name kind status description website area_id credit_code registered_address created_at verified_at"
            " api_publication api_contacts source_id source"
        ),
    },
    "api_token": {PERSONAL: "token_hash", INTERNAL: "id name created_by_id created_at last_used_at revoked_at"},
    "user": {
        PERSONAL: "email password_hash name phone totp_secret",
        INTERNAL: (
            "id role organization_id area_id locale active verified_at created_at last_login_at totp_last_step"
            " mfa_enrolled_at password_expires_at id_type"
        ),
    },
    "user_session": {
        PERSONAL: "token_hash",
        INTERNAL: "id user_id created_at last_seen_at authenticated_at revoked_at",
    },
    "login_attempt": {PERSONAL: "account_key address", INTERNAL: "id at succeeded"},
    "rate_event": {PERSONAL: "subject", INTERNAL: "id kind at"},
    "password_reset": {PERSONAL: "token_hash password_fingerprint", INTERNAL: "id user_id created_at used_at"},
    "recovery_code": {PERSONAL: "code_hash", INTERNAL: "id user_id used_at"},
    "offer": {
        PERSONAL: "contact_name contact_phone contact_email",
        INTERNAL: (
            "id organization_id volunteer_id category title description skills languages area_id address latitude"
            " longitude remote schedule capacity status min_age max_age genders min_months_in_recovery"
            " employment_type pay_min pay_max pay_period hours_per_week fair_chance_statement fair_chance_none_given"
            " last_confirmed_at reference"
            " version created_by_id created_at updated_at source_id"
        ),
    },
    "offer_features": {INTERNAL: "offer_id scheme digest ngrams concepts hours vector computed_at"},
    "offer_term": {INTERNAL: "term offer_id"},
    "person": {
        PART2: (
            "full_name phone phone_index id_number id_number_index birth_date address latitude longitude programme"
            " programme_start programme_end"
        ),
        SENSITIVE: "gender languages area_id max_travel_km availability skills next_contact_due last_contact_on"
        " legal_hold_reason"
        " refuses_ranked_suggestions",
        INTERNAL: (
            "id version code caseworker_id grid_worker_id specialist_id created_at updated_at legal_hold anonymised_at"
        ),
    },
    "need": {
        PART2: "description meaning",
        SENSITIVE: "category urgency status",
        INTERNAL: "id version person_id created_by_id created_at",
    },
    "referral": {
        PART2: "note summary",
        SENSITIVE: "score reasons reason_code contact_method",
        INTERNAL: (
            "id version need_id person_id offer_id status respond_by reminded_at created_by_id created_at updated_at"
        ),
    },
    "referralevent": {
        PART2: "note",
        INTERNAL: "id referral_id from_status to_status actor_id at reason_code",
    },
    "consent": {
        PART2: "note representative_name expiry_event_text",
        SENSITIVE: (
            "recipient_organization_id recipient_kind purpose data_categories valid_from valid_until method"
            " expiry_event signature_ref signed_at signed_by_role"
        ),
        INTERNAL: (
            "id version person_id recorded_by_id recorded_at revoked_at revoked_by_id discloser"
            " revocation_statement_version text_version_sha256"
        ),
    },
    "erasure_request": {
        SENSITIVE: "basis outcome",
        INTERNAL: "id person_id requested_at requested_by_id due_on status decided_at decided_by_id",
    },
    "consentoverride": {PART2: "note", SENSITIVE: "basis", INTERNAL: "id referral_id by_id at"},
    "contactlog": {
        PART2: "note latitude longitude",
        SENSITIVE: "kind occurred_on outcome",
        INTERNAL: "id person_id caseworker_id created_at",
    },
    "programme_agreement": {
        PART2: "programme signed_on starts_on ends_on check_in_every_days test_every_days note",
        INTERNAL: "id version person_id recorded_by_id created_at",
    },
    "programme_check": {
        PART2: "kind due_on done_on result note",
        INTERNAL: "id person_id agreement_id recorded_by_id created_at",
    },
    "volunteer_activity": {
        PART2: "description",
        SENSITIVE: "referral_id",
        PERSONAL: "volunteer_id minutes done_on kind returned_reason",
        INTERNAL: "id version organization_id area_id status decided_by_id decided_at created_at",
    },
    "handover": {PART2: "note", INTERNAL: "id person_id duty from_user_id to_user_id by_id at"},
    "dismissal": {PART2: "note", SENSITIVE: "reason", INTERNAL: "id need_id offer_id by_id at"},
    # Numbers derived from the person's need and place (closeness of meaning, nearness): no text,
    # but about a person in the programme, like a referral's score.
    "ranking_shown": {SENSITIVE: "offers", INTERNAL: "id need_id shown_at ranker_digest"},
    "ranking_decision": {SENSITIVE: "decision reason", INTERNAL: "id ranking_id offer_id at"},
    "followup": {
        PART2: "note",
        SENSITIVE: "kind due_on outcome",
        INTERNAL: "id key person_id referral_id status snoozed_until resolved_by_id resolved_at created_at",
    },
    "notification": {INTERNAL: "id user_id kind params target target_id created_at read_at"},
    "outboxmail": {
        PERSONAL: "to_address subject body",
        INTERNAL: "id created_at sent_at error attempts next_attempt_at failed_at",
    },
    "auditevent": {
        INTERNAL: "id sequence at actor_id action record_type record_id records_digest previous_hash hash",
    },
    "auditeventrecord": {INTERNAL: "event_id record_id"},
    "idempotency_key": {INTERNAL: "id actor_id key record_type record_id created_at"},
    "job_lock": {INTERNAL: "id name holder taken_at expires_at"},
    "job_run": {INTERNAL: "name last_success_at"},
    # Aggregates before small-cell suppression, with providers' and volunteers' names (completion table).
    # Published figures (after small-cell suppression) naming the providers, volunteers among them,
    # as the indicators page does: about providers, no longer about people in the programme.
    "indicator_snapshot": {PERSONAL: "figures", INTERNAL: "id key computed_at"},
    # An admin's HSDS import: the report quotes another directory's records (organizations' names,
    # their contacts' names, phones and e-mails in problems), the source may be a file's name.
    "directory_import": {
        PERSONAL: "report source file_path token",
        INTERNAL: "id created_by_id created_at updated_at state phase done total",
    },
}

COLUMN_CLASSES: dict[tuple[str, str], str] = {
    (table, column): level
    for table, levels in _CLASSES.items()
    for level, columns in levels.items()
    for column in columns.split()
}


def columns_of_class(level: str) -> dict[str, list[str]]:
    """The columns of one class, table by table."""
    found: dict[str, list[str]] = {}
    for (table, column), found_level in COLUMN_CLASSES.items():
        if found_level == level:
            found.setdefault(table, []).append(column)
    return found
