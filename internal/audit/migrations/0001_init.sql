-- remediator audit history, schema version 1. Shared by PostgreSQL and
-- SQLite: times are Unix microseconds (BIGINT), documents are JSON text.

-- One row per alert the dispatcher processed (dispatch.Outcome), or per
-- action found interrupted or unrecorded after a crash.
CREATE TABLE IF NOT EXISTS audit_remediations (
    id           TEXT PRIMARY KEY,
    recorded_us  BIGINT NOT NULL,
    instance     TEXT NOT NULL,
    alertname    TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    alert_status TEXT NOT NULL,
    runbook      TEXT NOT NULL,
    -- the target acted on (the chosen option's), else the runbook's
    target       TEXT NOT NULL,
    -- the chosen option's action, '' when policy allowed none
    action       TEXT NOT NULL,
    -- the outcome status (executed, planned, failed, denied, ...) or interrupted
    result       TEXT NOT NULL,
    error        TEXT NOT NULL,
    -- the whole dispatch.Outcome: investigations with evidence, every option
    -- with its decision and reasons, the result
    outcome      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_remediations_time ON audit_remediations (recorded_us, id);
CREATE INDEX IF NOT EXISTS audit_remediations_alertname ON audit_remediations (alertname, recorded_us);
CREATE INDEX IF NOT EXISTS audit_remediations_runbook ON audit_remediations (runbook, recorded_us);
CREATE INDEX IF NOT EXISTS audit_remediations_target ON audit_remediations (target, recorded_us);
CREATE INDEX IF NOT EXISTS audit_remediations_action ON audit_remediations (action, recorded_us);
CREATE INDEX IF NOT EXISTS audit_remediations_result ON audit_remediations (result, recorded_us);

-- One row per action run: written (state running) before it runs, updated
-- with its outcome after. remediation_id joins it to its alert's record once
-- that is written.
CREATE TABLE IF NOT EXISTS audit_actions (
    id              TEXT PRIMARY KEY,
    remediation_id  TEXT,
    -- who runs it: the configured instance id and this process's random
    -- incarnation id (see Store.Reap)
    instance        TEXT NOT NULL,
    incarnation     TEXT NOT NULL,
    intent_us       BIGINT NOT NULL,
    outcome_us      BIGINT,
    alertname       TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    alert_status    TEXT NOT NULL,
    alert_starts_us BIGINT NOT NULL,
    alert_labels    TEXT NOT NULL,
    runbook         TEXT NOT NULL,
    option_no       INTEGER NOT NULL,
    action          TEXT NOT NULL,
    target          TEXT NOT NULL,
    target_json     TEXT NOT NULL,
    params          TEXT NOT NULL,
    decision        TEXT NOT NULL,
    dry_run         INTEGER NOT NULL,
    -- running, success, failure, dry_run or interrupted
    state           TEXT NOT NULL,
    duration_us     BIGINT,
    error           TEXT NOT NULL,
    -- remediations.Result as JSON (changes, plan, evidence)
    result          TEXT
);
CREATE INDEX IF NOT EXISTS audit_actions_state ON audit_actions (state, intent_us);
CREATE INDEX IF NOT EXISTS audit_actions_remediation ON audit_actions (remediation_id);
CREATE INDEX IF NOT EXISTS audit_actions_time ON audit_actions (intent_us);
