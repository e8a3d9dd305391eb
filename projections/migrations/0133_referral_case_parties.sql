-- Who a case's parts are, as the referrals fold keeps them to judge who may publish what about the case
-- (projections/authority.py): the agency holding it (its opener, or the one it was handed over to), its case
-- manager's agency, and the agencies that accepted a referral of it. Existing rows are filled from what the
-- caseload and referrals read models hold; a rebuild (kim replay referrals) derives them from the log itself.
-- A row the caseload does not know (it lagged behind) keeps holder NULL: its case is not judged until a rebuild.
ALTER TABLE referral_cases
    ADD COLUMN holder text,
    ADD COLUMN manager_agency text,
    ADD COLUMN receivers text[] NOT NULL DEFAULT '{}';

UPDATE referral_cases r SET holder = c.agency, manager_agency = c.manager_agency
FROM caseload_cases c WHERE c.case_id = r.case_id;

UPDATE referral_cases r SET receivers = a.receivers
FROM (
    SELECT case_id, array_agg(DISTINCT to_agency ORDER BY to_agency) AS receivers
    FROM referrals WHERE accepted_at IS NOT NULL GROUP BY case_id
) a
WHERE a.case_id = r.case_id;
