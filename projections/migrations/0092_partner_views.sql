-- What a receiving agency may see of a case (docs/domain.md rule 2): the referrals sent to it, only while
-- the consent each was issued under still lets the data pass to it, and the cases handed over to it while a
-- consent of the case does. Read by the gateway's GET /v1/referrals/received (web/gateway/partner_views.py) with
-- the agency of the caller's token; analysts keep the aggregates of the analytics schema and get nothing here.

CREATE SCHEMA partner;

-- Does consent `consent_id` in a case's consents (the JSON the referrals fold keeps, projections/common.py:
-- {"<id>": {"to": [...], "until": "YYYY-MM-DD" | null, "withdrawn": "<ISO time>" | null}}) let data pass to
-- `agency` at `as_of`? The same judgement as projections.common.consent_problem, with one difference: a
-- withdrawal counts whenever it happened. After a withdrawal no further processing is covered (Art. 7(3)
-- DSGVO), and showing a row now is processing now, so an as-of time before the withdrawal shows nothing either.
-- Expiry is judged on Dortmund's calendar day of `as_of`, as the projections judge an event's day.
CREATE FUNCTION partner.consent_lets_pass(consents json, consent_id text, agency text, as_of timestamptz)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        (c -> 'to') ? agency
        AND c ->> 'withdrawn' IS NULL
        AND (c ->> 'until' IS NULL OR (as_of AT TIME ZONE 'Europe/Berlin')::date <= (c ->> 'until')::date),
        false)
    FROM (SELECT consents::jsonb -> consent_id AS c) AS k
$$;

-- The referrals `agency` received, as they stood at `as_of` (issued by then; answers after it not yet given),
-- while their consent lets the data pass to `agency` (see above). Another agency's referrals never show.
CREATE FUNCTION partner.referrals_for(agency text, as_of timestamptz)
RETURNS TABLE (
    case_id text, referral_id text, from_agency text, lebenslage text, consent_id text, consent_valid_until date,
    due_by date, status text, issued_at timestamptz, accepted_at timestamptz, declined_at timestamptz,
    completed_at timestamptz, decline_reason text, outcome text, case_status text
)
LANGUAGE sql STABLE
AS $$
    SELECT r.case_id, r.referral_id, r.from_agency, r.lebenslage, r.consent_id,
           ((c.consents::jsonb -> r.consent_id) ->> 'until')::date,
           r.due_by,
           CASE WHEN r.completed_at <= as_of THEN 'completed'
                WHEN r.declined_at <= as_of THEN 'declined'
                WHEN r.accepted_at <= as_of THEN 'accepted'
                ELSE 'issued' END,
           r.issued_at,
           CASE WHEN r.accepted_at <= as_of THEN r.accepted_at END,
           CASE WHEN r.declined_at <= as_of THEN r.declined_at END,
           CASE WHEN r.completed_at <= as_of THEN r.completed_at END,
           CASE WHEN r.declined_at <= as_of THEN r.decline_reason END,
           CASE WHEN r.completed_at <= as_of THEN r.outcome END,
           CASE WHEN c.closed_at <= as_of THEN 'closed' ELSE 'open' END
    FROM referrals r
    JOIN referral_cases c ON c.case_id = r.case_id
    WHERE r.to_agency = agency
      AND r.issued_at <= as_of
      AND partner.consent_lets_pass(c.consents, r.consent_id, agency, as_of)
    ORDER BY r.issued_at, r.case_id, r.referral_id
$$;

COMMENT ON FUNCTION partner.referrals_for(text, timestamptz) IS
    'Referrals received by an agency at as_of, only while their consent covers it, is not withdrawn and not expired.';

-- The cases handed over to `agency` that it is responsible for now (caseload_cases.agency: the projection keeps
-- the current responsibility, not its history), handed over by `as_of`, while a consent of the case covers
-- `agency` (judged as above). The caseload does not keep which consent a hand-over named, so any consent of the
-- case that lets the data pass counts; `consent_ids` lists them. Nothing about the client, needs or district.
CREATE FUNCTION partner.handovers_for(agency text, as_of timestamptz)
RETURNS TABLE (case_id text, opened_at timestamptz, handed_over_at timestamptz, case_status text, consent_ids text[])
LANGUAGE sql STABLE
AS $$
    SELECT c.case_id, c.opened_at, c.handed_over_at,
           CASE WHEN c.closed_at <= as_of THEN 'closed' ELSE 'open' END,
           k.ids
    FROM caseload_cases c
    CROSS JOIN LATERAL (
        SELECT array_agg(e.key ORDER BY e.key) AS ids
        FROM json_each(c.consents) AS e
        WHERE partner.consent_lets_pass(c.consents, e.key, handovers_for.agency, as_of)
    ) AS k
    WHERE c.agency = handovers_for.agency
      AND c.handed_over_at <= as_of
      AND k.ids IS NOT NULL
    ORDER BY c.handed_over_at, c.case_id
$$;

-- The caller's agency is an argument, so only the gateway (which takes it from the token) may call this:
-- nobody holds EXECUTE or the schema's USAGE unless projections/grants.py grants it (kim_gateway only).
-- SECURITY DEFINER: the gateway needs no SELECT on the referrals tables themselves.
ALTER FUNCTION partner.referrals_for(text, timestamptz) SECURITY DEFINER SET search_path = public, pg_temp;
REVOKE ALL ON FUNCTION partner.referrals_for(text, timestamptz) FROM PUBLIC;
ALTER FUNCTION partner.handovers_for(text, timestamptz) SECURITY DEFINER SET search_path = public, pg_temp;
REVOKE ALL ON FUNCTION partner.handovers_for(text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION partner.consent_lets_pass(json, text, text, timestamptz) FROM PUBLIC;
