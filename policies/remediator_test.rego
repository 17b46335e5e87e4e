# Unit tests of the default policy: every rule, firing and not firing.
#
# The daemon runs these tests every time it loads the policy, against the data
# it actually loaded (the user's data.remediator.config and the runtime it
# sets) and beside the user's own rules. So every test below pins
# data.remediator.config and data.remediator.runtime with `with`, and checks
# the presence or absence of its own deny code rather than the whole decision;
# the tests of the decision's assembly replace deny and adjustments outright.
# The one exception is test_loaded_config_is_valid, which checks the loaded
# configuration on purpose.
package remediator_test

import data.remediator

# --- Fixtures ------------------------------------------------------------------

# Nothing in it is denied or capped by the default configuration.
base_input := {
	"alert": {
		"name": "HighCPUUsage",
		"status": "firing",
		"labels": {"severity": "critical"},
		"annotations": {},
		"startsAt": "2026-01-01T00:00:00Z",
		"fingerprint": "abc",
	},
	"target": {
		"kind": "Deployment",
		"namespace": "order-context",
		"name": "order-service",
		"currentReplicas": 5,
		"labels": {"app": "order-service"},
		"annotations": {},
		"hpa": null,
	},
	"action": {"name": "kubernetes.rollout_restart", "params": {}},
	"history": {
		"target_actions_last_hour": 0,
		"action_last_run_seconds_ago": null,
		"global_actions_last_hour": 0,
		"consecutive_failures": 0,
	},
	"dry_run": false,
}

# base_input with the value at a JSON pointer path set (or added).
with_value(path, value) := json.patch(base_input, [{"op": "add", "path": path, "value": value}])

# base_input without the value at path.
without(path) := json.patch(base_input, [{"op": "remove", "path": path}])

# base_input with another action.
with_action(name, params) := with_value("/action", {"name": name, "params": params})

# base_input with another target.
with_target(target) := with_value("/target", target)

# --- Evaluation helpers --------------------------------------------------------

decide(inp, conf) := d if {
	d := remediator.decision with input as inp
		with data.remediator.config as conf
		with data.remediator.runtime as {}
}

deny_codes(inp, conf, runtime) := {d.code | some d in denies} if {
	denies := remediator.deny with input as inp
		with data.remediator.config as conf
		with data.remediator.runtime as runtime
}

# Whether the policy denies inp with code, under config conf.
denied(inp, conf, code) := code in deny_codes(inp, conf, {})

# The params and adjustments of this policy's caps (the set capped), rather
# than the final documents, which users' rules may extend.
params_for(inp, conf) := object.union(params_in, {c.param: c.value | some c in changes}) if {
	params_in := remediator.params_in with input as inp
	changes := remediator.capped with input as inp
		with data.remediator.config as conf
		with data.remediator.runtime as {}
}

adjustments_for(inp, conf) := {c.message | some c in changes} if {
	changes := remediator.capped with input as inp
		with data.remediator.config as conf
		with data.remediator.runtime as {}
}

deny_messages(inp, conf) := {d.message | some d in denies} if {
	denies := remediator.deny with input as inp
		with data.remediator.config as conf
		with data.remediator.runtime as {}
}

# --- Decision assembly ---------------------------------------------------------

test_decision_allowed_without_adjustments if {
	d := remediator.decision with input as base_input
		with data.remediator.config as {}
		with data.remediator.runtime as {}
		with remediator.deny as set()
		with remediator.adjustments as set()
		with remediator.param_overrides as {}
	d == {
		"allow": true,
		"reasons": ["allowed: all checks passed"],
		"params": {},
		"codes": [],
	}
}

# A parameter override without an adjustment (a user rule may add one) still
# makes the general decision, not the short cut for "nothing changed".
test_decision_allowed_with_override_only if {
	d := remediator.decision with input as base_input
		with data.remediator.config as {}
		with data.remediator.runtime as {}
		with remediator.deny as set()
		with remediator.adjustments as set()
		with remediator.param_overrides as {"max_pods": 3}
	d == {
		"allow": true,
		"reasons": ["allowed: all checks passed"],
		"params": {"max_pods": 3},
		"codes": [],
	}
}

test_decision_allowed_with_adjustments if {
	d := remediator.decision with input as base_input
		with data.remediator.config as {}
		with data.remediator.runtime as {}
		with remediator.deny as set()
		with remediator.adjustments as {"b lowered", "a raised"}
	d.allow == true
	d.reasons == ["a raised", "b lowered"]
	d.codes == []
}

test_decision_denied_lists_sorted_messages_then_adjustments if {
	d := remediator.decision with input as base_input
		with data.remediator.config as {}
		with data.remediator.runtime as {}
		with remediator.deny as {
			{"code": "zeta", "message": "z message"},
			{"code": "alpha", "message": "a message"},
			{"code": "alpha", "message": "another a message"},
		}
		with remediator.adjustments as {"max_pods set to 3 (cap max_pods_deleted)"}
	d.allow == false
	d.codes == ["alpha", "zeta"]
	d.reasons == ["a message", "another a message", "z message", "max_pods set to 3 (cap max_pods_deleted)"]
}

# User rules may add bare strings or incomplete objects to deny.
test_decision_tolerates_malformed_deny_entries if {
	d := remediator.decision with input as base_input
		with data.remediator.config as {}
		with data.remediator.runtime as {}
		with remediator.deny as {"plain sentence", {"code": "only_code"}}
		with remediator.adjustments as set()
	d.allow == false
	d.codes == ["denied", "only_code"]
	d.reasons == ["denied: {\"code\": \"only_code\"}", "plain sentence"]
}

# capped feeds params (through param_overrides) and adjustments.
test_decision_applies_capped_changes if {
	inp := with_action("kubernetes.delete_pods", {"selector": "app=x", "max_pods": 10})
	d := remediator.decision with input as inp
		with data.remediator.config as {}
		with data.remediator.runtime as {}
		with remediator.deny as set()
		with remediator.capped as {{"param": "max_pods", "value": 3, "message": "max_pods lowered"}}
	d.allow == true
	d.params.selector == "app=x"
	d.params.max_pods == 3
	"max_pods lowered" in d.reasons
}

test_decision_params_pass_through_unchanged if {
	every c in [
		{"action": "kubernetes.rollout_restart", "params": {}},
		{"action": "kubernetes.rollout_undo", "params": {"to_revision": 3}},
		{"action": "kubernetes.delete_pod", "params": {"pod": "p-1", "min_ready": 1, "evict": true}},
		{"action": "kubernetes.set_env", "params": {"name": "DB_POOL_SIZE", "value": "20", "container": "app"}},
		{"action": "kubernetes.restore_namespace", "params": {}},
		{"action": "postgres.recommend_max_connections", "params": {"headroom": 0.2}},
		{"action": "kubernetes.scale", "params": {"step": 2, "max_replicas": 10, "hpa": "refuse", "min_replicas": 2}},
		{"action": "kubernetes.delete_pods", "params": {"selector": "app=x", "max_pods": 2, "min_ready": 1}},
		{"action": "postgres.terminate_idle", "params": {"idle_seconds": 600, "max_sessions": 50, "only_users": ["app"]}},
		{"action": "redis.delete_keys", "params": {"pattern": "expired:*", "max_keys": 10, "batch_size": 500}},
		{"action": "kubernetes.set_resources", "params": {"resource": "cpu", "factor": 1.5, "max": "2"}},
	] {
		inp := with_action(c.action, c.params)
		params_for(inp, {}) == c.params
		count(adjustments_for(inp, {})) == 0
	}
}

test_decision_params_default_to_empty_object if {
	every inp in [
		without("/action/params"),
		with_value("/action/params", null),
	] {
		params_for(inp, {}) == {}
	}
}

test_decision_defined_for_every_action if {
	every name in [
		"kubernetes.scale", "kubernetes.scale_namespace", "kubernetes.set_resources",
		"kubernetes.rollout_restart", "kubernetes.delete_pod", "kubernetes.delete_pods",
		"kubernetes.rollout_undo", "kubernetes.set_env", "kubernetes.restore_namespace",
		"postgres.terminate_idle", "postgres.recommend_max_connections", "postgres.connection_report",
		"redis.delete_keys", "redis.cache_report", "some.unknown_action",
	] {
		d := decide(with_action(name, {}), {})
		is_boolean(d.allow)
		count(d.reasons) > 0
		is_array(d.codes)
		is_object(d.params)
	}
}

# --- Input checks --------------------------------------------------------------

test_invalid_input if {
	every c in [
		{"inp": base_input, "want": false},
		{"inp": without("/action/name"), "want": true},
		{"inp": with_value("/action/name", 42), "want": true},
		{"inp": {}, "want": true},
	] {
		denied(c.inp, {}, "invalid_input") == c.want
	}
}

# --- Configuration -------------------------------------------------------------

test_cfg_defaults if {
	c := remediator.cfg with data.remediator.config as {}
	c == remediator.default_config
	c.max_replicas == 20
	c.max_cpu == "4"
	c.max_memory == "8Gi"
}

test_cfg_overrides_merge_with_defaults if {
	c := remediator.cfg with data.remediator.config as {"max_replicas": 7, "cooldowns": {"kubernetes.scale": 60}}
	c.max_replicas == 7
	c.cooldowns == {"kubernetes.scale": 60}
	c.max_pods_deleted == 3
}

test_cfg_non_object_config_falls_back_to_defaults if {
	c := remediator.cfg with data.remediator.config as ["not", "an", "object"]
	c == remediator.default_config
}

# The configuration the daemon (or `opa test` with a data directory) actually
# loaded. Deliberately not pinned: a broken configuration fails this test,
# and the daemon refuses a policy whose tests fail. See config_errors.
test_loaded_config_is_valid if {
	count(remediator.config_errors) == 0
}

test_config_errors if {
	every c in [
		{"conf": {}, "want": set()},
		{
			"conf": {"max_cpu": 2, "max_memory": "512Mi", "cooldowns": {"kubernetes.scale": 0}, "allowed_actions": ["kubernetes.scale"]},
			"want": set(),
		},
		{"conf": "yes", "want": {"data.remediator.config must be an object"}},
		{"conf": {"max_replicas": "20"}, "want": {"config max_replicas must be a non-negative number"}},
		{"conf": {"max_actions_per_hour": -1}, "want": {"config max_actions_per_hour must be a non-negative number"}},
		{"conf": {"allowed_namespaces": "default"}, "want": {"config allowed_namespaces must be a list"}},
		{"conf": {"max_cpu": "four"}, "want": {"config max_cpu must be a positive Kubernetes quantity"}},
		{"conf": {"max_memory": true}, "want": {"config max_memory must be a positive Kubernetes quantity"}},
		{"conf": {"max_memory": "0"}, "want": {"config max_memory must be a positive Kubernetes quantity"}},
		{"conf": {"cooldowns": 60}, "want": {"config cooldowns must be an object of action name to seconds"}},
		{"conf": {"cooldowns": {"kubernetes.scale": "1m"}}, "want": {"config cooldowns[\"kubernetes.scale\"] must be a non-negative number"}},
		{
			"conf": {"alowed_namespaces": ["order-context"]},
			"want": {"data.remediator.config: unknown key \"alowed_namespaces\" (did you mean \"allowed_namespaces\"?)"},
		},
		{
			"conf": {"max_replica": 3, "max_replicas": 3},
			"want": {"data.remediator.config: unknown key \"max_replica\" (did you mean \"max_replicas\"?)"},
		},
		{
			"conf": {"team": "sre"},
			"want": {"data.remediator.config: unknown key \"team\" (settings of your own rules belong in data.remediator.custom)"},
		},
	] {
		errs := remediator.config_errors with data.remediator.config as c.conf
		errs == c.want
	}
}

# The suggestion for an unknown key is the known key sharing the most
# character pairs, and none when nothing is alike enough.
test_nearest_config_key if {
	every c in [
		{"key": "alowed_namespaces", "want": "allowed_namespaces"},
		{"key": "protected_namespace", "want": "protected_namespaces"},
		{"key": "max_replica", "want": "max_replicas"},
		{"key": "cooldown", "want": "cooldowns"},
		{"key": "maxreplicas", "want": "max_replicas"},
	] {
		remediator.nearest_config_key(c.key) == c.want
	}
	every key in ["team", "x", ""] {
		not remediator.nearest_config_key(key)
	}
}

test_bigrams if {
	remediator.bigrams("abc") == {"ab", "bc"}
	remediator.bigrams("a") == {"a"}
	remediator.bigrams("") == {""}
	remediator.key_similarity("abc", "abc") == 1
	remediator.key_similarity("ab", "cd") == 0
}

test_quantity_helpers if {
	every q in ["500m", "2", "0.5", "512Mi", "8Gi", "1G", "1e3"] {
		remediator.valid_quantity(q)
	}
	every q in ["", "0", "-1", "abc", "8GiB", "8 Gi", 4, null] {
		not remediator.valid_quantity(q)
	}
	remediator.quantity_string("4") == "4"
	remediator.quantity_string(4) == "4"
	remediator.quantity_string(0.5) == "0.5"
	remediator.quantity_string(true) == ""
}

# --- Where ---------------------------------------------------------------------

test_protected_namespace if {
	every c in [
		{"note": "kube-system by default", "target": {"kind": "Deployment", "namespace": "kube-system", "name": "coredns"}, "conf": {}, "runtime": {}, "want": true},
		{"note": "kube-public by default", "target": {"kind": "Deployment", "namespace": "kube-public", "name": "x"}, "conf": {}, "runtime": {}, "want": true},
		{"note": "kube-node-lease by default", "target": {"kind": "Deployment", "namespace": "kube-node-lease", "name": "x"}, "conf": {}, "runtime": {}, "want": true},
		{"note": "a Namespace target named in target.name", "target": {"kind": "Namespace", "name": "kube-system"}, "conf": {}, "runtime": {}, "want": true},
		{"note": "configured list", "target": {"kind": "Deployment", "namespace": "payments", "name": "x"}, "conf": {"protected_namespaces": ["payments"]}, "runtime": {}, "want": true},
		{"note": "configured list replaces the default", "target": {"kind": "Deployment", "namespace": "kube-system", "name": "x"}, "conf": {"protected_namespaces": ["payments"]}, "runtime": {}, "want": false},
		{"note": "own namespace", "target": {"kind": "Deployment", "namespace": "remediator", "name": "x"}, "conf": {}, "runtime": {"own_namespace": "remediator"}, "want": true},
		{"note": "own namespace, even with an empty list", "target": {"kind": "Deployment", "namespace": "remediator", "name": "x"}, "conf": {"protected_namespaces": []}, "runtime": {"own_namespace": "remediator"}, "want": true},
		{"note": "an ordinary namespace", "target": {"kind": "Deployment", "namespace": "order-context", "name": "x"}, "conf": {}, "runtime": {"own_namespace": "remediator"}, "want": false},
		{"note": "no namespace, empty own namespace", "target": {"kind": "PostgreSQL", "namespace": "", "database": "orders"}, "conf": {}, "runtime": {"own_namespace": ""}, "want": false},
		{"note": "no namespace at all", "target": {"kind": "Redis", "instance": "cache"}, "conf": {}, "runtime": {}, "want": false},
	] {
		got := "protected_namespace" in deny_codes(with_target(c.target), c.conf, c.runtime)
		got == c.want
	}
}

test_protected_namespace_messages if {
	msg := "namespace kube-system is protected (config protected_namespaces); remediator never acts there"
	msg in deny_messages(with_target({"kind": "Deployment", "namespace": "kube-system", "name": "x"}), {})
	denies := remediator.deny with input as with_target({"kind": "Deployment", "namespace": "remediator", "name": "x"})
		with data.remediator.config as {}
		with data.remediator.runtime as {"own_namespace": "remediator"}
	{
		"code": "protected_namespace",
		"message": "namespace remediator is remediator's own namespace; remediator never acts there",
	} in denies
}

test_disabled if {
	every c in [
		{"annotations": {"remediator.io/disabled": "true"}, "want": true},
		{"annotations": {"remediator.io/disabled": "false"}, "want": false},
		{"annotations": {"other": "true"}, "want": false},
		{"annotations": {}, "want": false},
		{"annotations": null, "want": false},
	] {
		denied(with_value("/target/annotations", c.annotations), {}, "disabled") == c.want
	}
	denied(without("/target/annotations"), {}, "disabled") == false
	msgs := deny_messages(with_value("/target/annotations", {"remediator.io/disabled": "true"}), {})
	"the target is annotated remediator.io/disabled=true; remediation is disabled for it" in msgs
}

test_disabled_namespace if {
	every c in [
		{"annotations": {"remediator.io/disabled": "true"}, "want": true},
		{"annotations": {"remediator.io/disabled": "false"}, "want": false},
		{"annotations": {}, "want": false},
	] {
		denied(with_value("/target/namespaceAnnotations", c.annotations), {}, "disabled") == c.want
	}
	denied(base_input, {}, "disabled") == false # absent: not known
	msgs := deny_messages(with_value("/target/namespaceAnnotations", {"remediator.io/disabled": "true"}), {})
	some m in msgs
	contains(m, "is annotated remediator.io/disabled=true; remediation is disabled for everything in it")
}

test_namespace_not_allowed if {
	every c in [
		{"note": "empty list allows all", "ns": "anything", "conf": {}, "want": false},
		{"note": "listed", "ns": "order-context", "conf": {"allowed_namespaces": ["order-context"]}, "want": false},
		{"note": "not listed", "ns": "billing", "conf": {"allowed_namespaces": ["order-context"]}, "want": true},
		{"note": "no namespace is not affected", "ns": "", "conf": {"allowed_namespaces": ["order-context"]}, "want": false},
	] {
		denied(with_value("/target/namespace", c.ns), c.conf, "namespace_not_allowed") == c.want
	}
	denied(without("/target/namespace"), {"allowed_namespaces": ["order-context"]}, "namespace_not_allowed") == false
	msgs := deny_messages(with_value("/target/namespace", "billing"), {"allowed_namespaces": ["order-context"]})
	"namespace billing is not in allowed_namespaces" in msgs
}

# --- What ----------------------------------------------------------------------

test_action_not_allowed if {
	every c in [
		{"action": "kubernetes.scale", "conf": {}, "want": false},
		{"action": "kubernetes.scale", "conf": {"allowed_actions": ["kubernetes.scale"]}, "want": false},
		{"action": "kubernetes.delete_pods", "conf": {"allowed_actions": ["kubernetes.scale"]}, "want": true},
	] {
		denied(with_action(c.action, {}), c.conf, "action_not_allowed") == c.want
	}
	msgs := deny_messages(with_action("kubernetes.delete_pod", {}), {"allowed_actions": ["kubernetes.scale"]})
	"action kubernetes.delete_pod is not in allowed_actions" in msgs
}

test_env_not_allowed if {
	every c in [
		{"params": {"name": "DB_POOL_SIZE", "value": "10"}, "conf": {}, "want": false},
		{"params": {"name": "SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE", "value": "10"}, "conf": {}, "want": false},
		{"params": {"name": "LD_PRELOAD", "value": "/x.so"}, "conf": {}, "want": true},
		{"params": {"value": "10"}, "conf": {}, "want": true},
		{"params": {"name": "LD_PRELOAD", "value": "/x.so"}, "conf": {"allowed_env_names": []}, "want": false},
		{"params": {"name": "DB_POOL_SIZE", "value": "10"}, "conf": {"allowed_env_names": ["OTHER"]}, "want": true},
	] {
		denied(with_action("kubernetes.set_env", c.params), c.conf, "env_not_allowed") == c.want
	}

	# Only kubernetes.set_env is concerned.
	denied(with_action("kubernetes.rollout_restart", {"name": "LD_PRELOAD"}), {}, "env_not_allowed") == false
	msgs := deny_messages(with_action("kubernetes.set_env", {"name": "LD_PRELOAD"}), {})
	"environment variable \"LD_PRELOAD\" is not in allowed_env_names" in msgs
}

# --- How often -----------------------------------------------------------------

test_cooldown if {
	every c in [
		{"note": "never ran", "last": null, "conf": {}, "want": false},
		{"note": "ran 100s ago, default 600s", "last": 100, "conf": {}, "want": true},
		{"note": "ran exactly at the cooldown", "last": 600, "conf": {}, "want": false},
		{"note": "ran long ago", "last": 840.5, "conf": {}, "want": false},
		{"note": "configured default", "last": 100, "conf": {"cooldown_seconds": 60}, "want": false},
		{"note": "per-action override", "last": 700, "conf": {"cooldowns": {"kubernetes.rollout_restart": 900}}, "want": true},
		{"note": "override of another action", "last": 700, "conf": {"cooldowns": {"kubernetes.scale": 900}}, "want": false},
		{"note": "override below default", "last": 100, "conf": {"cooldowns": {"kubernetes.rollout_restart": 30}}, "want": false},
	] {
		denied(with_value("/history/action_last_run_seconds_ago", c.last), c.conf, "cooldown") == c.want
	}
	denied(without("/history/action_last_run_seconds_ago"), {}, "cooldown") == false
}

test_cooldown_message_says_what_remains if {
	msgs := deny_messages(with_value("/history/action_last_run_seconds_ago", 99.5), {})
	"kubernetes.rollout_restart ran on this target 99s ago; cooldown is 600s, 501s remaining" in msgs
}

test_rate_limit_target if {
	every c in [
		{"n": 2, "conf": {}, "want": false},
		{"n": 3, "conf": {}, "want": true},
		{"n": 9, "conf": {}, "want": true},
		{"n": 3, "conf": {"max_actions_per_target_per_hour": 4}, "want": false},
	] {
		denied(with_value("/history/target_actions_last_hour", c.n), c.conf, "rate_limit_target") == c.want
	}

	# A missing counter counts as 0.
	denied(without("/history/target_actions_last_hour"), {}, "rate_limit_target") == false
	denied(without("/history"), {"max_actions_per_target_per_hour": 0}, "rate_limit_target") == true
	msgs := deny_messages(with_value("/history/target_actions_last_hour", 3), {})
	"3 actions on this target in the last hour; the limit is 3 (max_actions_per_target_per_hour)" in msgs
}

test_rate_limit_global if {
	every c in [
		{"n": 29, "conf": {}, "want": false},
		{"n": 30, "conf": {}, "want": true},
		{"n": 30, "conf": {"max_actions_per_hour": 100}, "want": false},
	] {
		denied(with_value("/history/global_actions_last_hour", c.n), c.conf, "rate_limit_global") == c.want
	}
	denied(without("/history/global_actions_last_hour"), {}, "rate_limit_global") == false
	denied(without("/history"), {"max_actions_per_hour": 0}, "rate_limit_global") == true
	msgs := deny_messages(with_value("/history/global_actions_last_hour", 31), {})
	"31 actions in the last hour across all targets; the limit is 30 (max_actions_per_hour)" in msgs
}

test_circuit_open if {
	every c in [
		{"n": 0, "conf": {}, "want": false},
		{"n": 2, "conf": {}, "want": false},
		{"n": 3, "conf": {}, "want": true},
		{"n": 3, "conf": {"max_consecutive_failures": 5}, "want": false},
	] {
		denied(with_value("/history/consecutive_failures", c.n), c.conf, "circuit_open") == c.want
	}
	denied(without("/history/consecutive_failures"), {}, "circuit_open") == false
	denied(without("/history"), {"max_consecutive_failures": 0}, "circuit_open") == true
	msgs := deny_messages(with_value("/history/consecutive_failures", 4), {})
	"circuit open: 4 consecutive failed actions, the limit is 3 (max_consecutive_failures)" in msgs
}

# After circuit_open_seconds without a run, one attempt is let through.
test_circuit_half_open if {
	every c in [
		{"last": null, "conf": {}, "want": true},
		{"last": 1799, "conf": {}, "want": true},
		{"last": 1800, "conf": {}, "want": false},
		{"last": 61, "conf": {"circuit_open_seconds": 60}, "want": false},
		{"last": 59, "conf": {"circuit_open_seconds": 60}, "want": true},
	] {
		inp := json.patch(base_input, [
			{"op": "add", "path": "/history/consecutive_failures", "value": 3},
			{"op": "add", "path": "/history/action_last_run_seconds_ago", "value": c.last},
		])
		denied(inp, object.union(c.conf, {"cooldown_seconds": 0}), "circuit_open") == c.want
	}
}

# --- Caps: kubernetes.scale ----------------------------------------------------

test_scale_caps if {
	every c in [
		{
			"note": "within the cap",
			"params": {"step": 2, "max_replicas": 10},
			"conf": {},
			"want": {"step": 2, "max_replicas": 10},
			"adjustments": set(),
		},
		{
			"note": "max_replicas absent: set to the cap",
			"params": {"step": 2},
			"conf": {},
			"want": {"step": 2, "max_replicas": 20},
			"adjustments": {"max_replicas set to 20 (cap max_replicas)"},
		},
		{
			"note": "max_replicas null: set to the cap",
			"params": {"factor": 1.5, "max_replicas": null},
			"conf": {"max_replicas": 12},
			"want": {"factor": 1.5, "max_replicas": 12},
			"adjustments": {"max_replicas set to 12 (cap max_replicas)"},
		},
		{
			"note": "max_replicas 0 means no limit: set to the cap",
			"params": {"step": 1, "max_replicas": 0},
			"conf": {},
			"want": {"step": 1, "max_replicas": 20},
			"adjustments": {"max_replicas set to 20 (cap max_replicas; 0 means no limit)"},
		},
		{
			"note": "max_replicas above the cap: lowered",
			"params": {"step": 2, "max_replicas": 50},
			"conf": {},
			"want": {"step": 2, "max_replicas": 20},
			"adjustments": {"max_replicas lowered from 50 to 20 (cap max_replicas)"},
		},
		{
			"note": "max_replicas equal to the cap",
			"params": {"step": 2, "max_replicas": 20},
			"conf": {},
			"want": {"step": 2, "max_replicas": 20},
			"adjustments": set(),
		},
		{
			"note": "replicas above the cap: lowered",
			"params": {"replicas": 30, "max_replicas": 10.0},
			"conf": {},
			"want": {"replicas": 20, "max_replicas": 10.0},
			"adjustments": {"replicas lowered from 30 to 20 (cap max_replicas)"},
		},
		{
			"note": "both above the cap",
			"params": {"replicas": 30, "max_replicas": 40},
			"conf": {"max_replicas": 8},
			"want": {"replicas": 8, "max_replicas": 8},
			"adjustments": {"replicas lowered from 30 to 8 (cap max_replicas)", "max_replicas lowered from 40 to 8 (cap max_replicas)"},
		},
	] {
		inp := with_action("kubernetes.scale", c.params)
		params_for(inp, c.conf) == c.want
		adjustments_for(inp, c.conf) == c.adjustments
	}
}

test_scale_numeric_params_must_be_numbers if {
	every c in [
		{"params": {"step": 2, "max_replicas": "50"}, "want": true},
		{"params": {"replicas": "3"}, "want": true},
		{"params": {"replicas": 3, "max_replicas": null}, "want": false},
		{"params": {"replicas": 3}, "want": false},
	] {
		denied(with_action("kubernetes.scale", c.params), {}, "invalid_params") == c.want
	}
	msgs := deny_messages(with_action("kubernetes.scale", {"step": 1, "max_replicas": "50"}), {})
	"kubernetes.scale: max_replicas must be a number, not \"50\"" in msgs
}

test_below_min_replicas if {
	every c in [
		{"action": "kubernetes.scale", "params": {"replicas": 0}, "conf": {}, "want": true},
		{"action": "kubernetes.scale", "params": {"replicas": 0, "allow_zero": true}, "conf": {}, "want": false},
		{"action": "kubernetes.scale", "params": {"replicas": 0, "allow_zero": "true"}, "conf": {}, "want": true},
		{"action": "kubernetes.scale", "params": {"replicas": -1, "allow_zero": true}, "conf": {}, "want": true},
		{"action": "kubernetes.scale", "params": {"replicas": 1}, "conf": {}, "want": false},
		{"action": "kubernetes.scale", "params": {"step": -1}, "conf": {}, "want": false},
		{"action": "kubernetes.scale_namespace", "params": {"replicas": 0}, "conf": {}, "want": true},
		{"action": "kubernetes.scale_namespace", "params": {"replicas": 0, "allow_zero": true, "only_reduce": true}, "conf": {}, "want": false},
		{"action": "kubernetes.scale_namespace", "params": {"replicas": 2}, "conf": {}, "want": false},
		{"note": "a cap of 0 lowers replicas to 0", "action": "kubernetes.scale_namespace", "params": {"replicas": 2}, "conf": {"max_replicas": 0}, "want": true},
		{"note": "only the scale actions", "action": "kubernetes.delete_pods", "params": {"selector": "a=b", "replicas": 0}, "conf": {}, "want": false},
	] {
		denied(with_action(c.action, c.params), c.conf, "below_min_replicas") == c.want
	}
	msgs := deny_messages(with_action("kubernetes.scale_namespace", {"replicas": 0}), {})
	"kubernetes.scale_namespace: replicas 0 is below 1 (0 needs allow_zero: true)" in msgs
}

test_scale_namespace_caps if {
	inp := with_action("kubernetes.scale_namespace", {"replicas": 25, "only_reduce": true})
	params_for(inp, {}) == {"replicas": 20, "only_reduce": true}
	adjustments_for(inp, {}) == {"replicas lowered from 25 to 20 (cap max_replicas)"}
	params_for(with_action("kubernetes.scale_namespace", {"replicas": 1}), {}) == {"replicas": 1}
}

test_at_max_replicas if {
	every c in [
		{"note": "step at the cap", "current": 20, "params": {"step": 2}, "conf": {}, "want": true},
		{"note": "step above the cap", "current": 25, "params": {"step": 2, "max_replicas": 50}, "conf": {}, "want": true},
		{"note": "step below the cap", "current": 19, "params": {"step": 2}, "conf": {}, "want": false},
		{"note": "factor at the runbook's own max", "current": 10, "params": {"factor": 1.5, "max_replicas": 10}, "conf": {}, "want": true},
		{"note": "factor at a configured cap", "current": 6, "params": {"factor": 2}, "conf": {"max_replicas": 6}, "want": true},
		{"note": "scale-in by step", "current": 25, "params": {"step": -2}, "conf": {}, "want": false},
		{"note": "scale-in by factor", "current": 25, "params": {"factor": 0.5}, "conf": {}, "want": false},
		{"note": "absolute replicas", "current": 25, "params": {"replicas": 10}, "conf": {}, "want": false},
		{"note": "current count unknown", "current": null, "params": {"step": 2}, "conf": {}, "want": false},
		{"note": "max_replicas not a number", "current": 25, "params": {"step": 2, "max_replicas": "x"}, "conf": {}, "want": false},
	] {
		inp := json.patch(with_action("kubernetes.scale", c.params), [{"op": "add", "path": "/target/currentReplicas", "value": c.current}])
		denied(inp, c.conf, "at_max_replicas") == c.want
	}
	denied(json.patch(with_action("kubernetes.scale", {"step": 2}), [{"op": "remove", "path": "/target/currentReplicas"}]), {}, "at_max_replicas") == false

	# Only kubernetes.scale is concerned.
	denied(with_action("kubernetes.scale_namespace", {"replicas": 1}), {"max_replicas": 1}, "at_max_replicas") == false
	msgs := deny_messages(with_action("kubernetes.scale", {"step": 1, "max_replicas": 5}), {})
	"kubernetes.scale: the target already runs 5 replicas, at or above max_replicas 5; it cannot scale out further" in msgs
}

# --- Caps: kubernetes.set_resources --------------------------------------------

test_set_resources_caps if {
	every c in [
		{
			"note": "cpu within the cap",
			"params": {"resource": "cpu", "factor": 1.5, "max": "2"},
			"conf": {},
			"want": {"resource": "cpu", "factor": 1.5, "max": "2"},
			"adjustments": set(),
		},
		{
			"note": "millicores within the cap",
			"params": {"resource": "cpu", "value": "500m", "max": "4"},
			"conf": {},
			"want": {"resource": "cpu", "value": "500m", "max": "4"},
			"adjustments": set(),
		},
		{
			"note": "max absent: set to the cap",
			"params": {"resource": "cpu", "factor": 2},
			"conf": {},
			"want": {"resource": "cpu", "factor": 2, "max": "4"},
			"adjustments": {"max set to 4 (cap max_cpu)"},
		},
		{
			"note": "max empty: set to the cap",
			"params": {"resource": "memory", "factor": 2, "max": ""},
			"conf": {},
			"want": {"resource": "memory", "factor": 2, "max": "8Gi"},
			"adjustments": {"max set to 8Gi (cap max_memory)"},
		},
		{
			"note": "max above the cap: lowered",
			"params": {"resource": "cpu", "factor": 2, "max": "6000m"},
			"conf": {},
			"want": {"resource": "cpu", "factor": 2, "max": "4"},
			"adjustments": {"max lowered from 6000m to 4 (cap max_cpu)"},
		},
		{
			"note": "value above the cap: lowered, max set",
			"params": {"resource": "memory", "value": "16Gi", "container": "app"},
			"conf": {},
			"want": {"resource": "memory", "value": "8Gi", "max": "8Gi", "container": "app"},
			"adjustments": {"value lowered from 16Gi to 8Gi (cap max_memory)", "max set to 8Gi (cap max_memory)"},
		},
		{
			"note": "memory in Mi within the cap",
			"params": {"resource": "memory", "value": "512Mi", "max": "1Gi"},
			"conf": {},
			"want": {"resource": "memory", "value": "512Mi", "max": "1Gi"},
			"adjustments": set(),
		},
		{
			"note": "configured caps, one written as a number",
			"params": {"resource": "cpu", "value": "3", "max": "3"},
			"conf": {"max_cpu": 2},
			"want": {"resource": "cpu", "value": "2", "max": "2"},
			"adjustments": {"value lowered from 3 to 2 (cap max_cpu)", "max lowered from 3 to 2 (cap max_cpu)"},
		},
		{
			"note": "configured memory cap",
			"params": {"resource": "memory", "value": "1Gi", "max": "2Gi"},
			"conf": {"max_memory": "1536Mi"},
			"want": {"resource": "memory", "value": "1Gi", "max": "1536Mi"},
			"adjustments": {"max lowered from 2Gi to 1536Mi (cap max_memory)"},
		},
	] {
		inp := with_action("kubernetes.set_resources", c.params)
		params_for(inp, c.conf) == c.want
		adjustments_for(inp, c.conf) == c.adjustments
		not denied(inp, c.conf, "invalid_params")
	}
}

test_set_resources_invalid_params if {
	every c in [
		{"params": {"factor": 2}, "message": "kubernetes.set_resources: resource must be cpu or memory, not null"},
		{"params": {"resource": "gpu", "factor": 2}, "message": "kubernetes.set_resources: resource must be cpu or memory, not \"gpu\""},
		{
			"params": {"resource": "cpu", "factor": 2, "max": "lots"},
			"message": "kubernetes.set_resources: max must be a positive Kubernetes quantity such as \"500m\" or \"512Mi\", not \"lots\"",
		},
		{
			"params": {"resource": "memory", "value": "8GiB"},
			"message": "kubernetes.set_resources: value must be a positive Kubernetes quantity such as \"500m\" or \"512Mi\", not \"8GiB\"",
		},
		{
			"params": {"resource": "cpu", "value": 2},
			"message": "kubernetes.set_resources: value must be a positive Kubernetes quantity such as \"500m\" or \"512Mi\", not 2",
		},
		{
			"params": {"resource": "cpu", "value": "-1"},
			"message": "kubernetes.set_resources: value must be a positive Kubernetes quantity such as \"500m\" or \"512Mi\", not \"-1\"",
		},
	] {
		c.message in deny_messages(with_action("kubernetes.set_resources", c.params), {})
	}

	# An invalid quantity is neither capped nor replaced.
	params_for(with_action("kubernetes.set_resources", {"resource": "cpu", "value": "lots"}), {}) == {"resource": "cpu", "value": "lots", "max": "4"}
	params_for(with_action("kubernetes.set_resources", {"resource": "gpu", "factor": 2}), {}) == {"resource": "gpu", "factor": 2}
}

# --- Caps: pods, sessions, keys ------------------------------------------------

test_count_caps if {
	every c in [
		{
			"action": "kubernetes.delete_pods",
			"params": {"selector": "app=checkout"},
			"conf": {},
			"want": {"selector": "app=checkout", "max_pods": 3},
			"adjustments": {"max_pods set to 3 (cap max_pods_deleted)"},
		},
		{
			"action": "kubernetes.delete_pods",
			"params": {"selector": "app=checkout", "max_pods": 10, "min_ready": 1},
			"conf": {},
			"want": {"selector": "app=checkout", "max_pods": 3, "min_ready": 1},
			"adjustments": {"max_pods lowered from 10 to 3 (cap max_pods_deleted)"},
		},
		{
			"action": "kubernetes.delete_pods",
			"params": {"selector": "app=checkout", "max_pods": 2},
			"conf": {},
			"want": {"selector": "app=checkout", "max_pods": 2},
			"adjustments": set(),
		},
		{
			"action": "kubernetes.delete_pods",
			"params": {"selector": "app=checkout", "max_pods": 5},
			"conf": {"max_pods_deleted": 5},
			"want": {"selector": "app=checkout", "max_pods": 5},
			"adjustments": set(),
		},
		{
			"action": "postgres.terminate_idle",
			"params": {"idle_seconds": 600},
			"conf": {},
			"want": {"idle_seconds": 600, "max_sessions": 50},
			"adjustments": {"max_sessions set to 50 (cap max_sessions_terminated)"},
		},
		{
			"action": "postgres.terminate_idle",
			"params": {"idle_seconds": 600, "max_sessions": 500},
			"conf": {"max_sessions_terminated": 20},
			"want": {"idle_seconds": 600, "max_sessions": 20},
			"adjustments": {"max_sessions lowered from 500 to 20 (cap max_sessions_terminated)"},
		},
		{
			"action": "postgres.terminate_idle",
			"params": {"idle_seconds": 60, "max_sessions": 10},
			"conf": {},
			"want": {"idle_seconds": 300, "max_sessions": 10},
			"adjustments": {"idle_seconds raised from 60 to 300 (floor min_idle_seconds)"},
		},
		{
			"action": "postgres.terminate_idle",
			"params": {"idle_seconds": 60, "max_sessions": 10},
			"conf": {"min_idle_seconds": 30},
			"want": {"idle_seconds": 60, "max_sessions": 10},
			"adjustments": set(),
		},
		{
			"action": "postgres.terminate_idle",
			"params": {"max_sessions": 10},
			"conf": {},
			"want": {"max_sessions": 10},
			"adjustments": set(),
		},
		{
			"action": "redis.delete_keys",
			"params": {"pattern": "expired:*"},
			"conf": {},
			"want": {"pattern": "expired:*", "max_keys": 100000},
			"adjustments": {"max_keys set to 100000 (cap max_keys_deleted)"},
		},
		{
			"action": "redis.delete_keys",
			"params": {"pattern": "expired:*", "max_keys": 1000000, "batch_size": 500},
			"conf": {},
			"want": {"pattern": "expired:*", "max_keys": 100000, "batch_size": 500},
			"adjustments": {"max_keys lowered from 1000000 to 100000 (cap max_keys_deleted)"},
		},
		{
			"action": "redis.delete_keys",
			"params": {"pattern": "expired:*", "max_keys": -5},
			"conf": {},
			"want": {"pattern": "expired:*", "max_keys": 100000},
			"adjustments": {"max_keys set to 100000 (cap max_keys_deleted; -5 means no limit)"},
		},
	] {
		inp := with_action(c.action, c.params)
		params_for(inp, c.conf) == c.want
		adjustments_for(inp, c.conf) == c.adjustments
	}
}

test_count_params_must_be_numbers if {
	every c in [
		{"action": "kubernetes.delete_pods", "params": {"selector": "a=b", "max_pods": "3"}, "message": "kubernetes.delete_pods: max_pods must be a number, not \"3\""},
		{"action": "postgres.terminate_idle", "params": {"idle_seconds": "600"}, "message": "postgres.terminate_idle: idle_seconds must be a number, not \"600\""},
		{"action": "postgres.terminate_idle", "params": {"idle_seconds": 600, "max_sessions": [1]}, "message": "postgres.terminate_idle: max_sessions must be a number, not [1]"},
		{"action": "redis.delete_keys", "params": {"pattern": "a:*", "max_keys": true}, "message": "redis.delete_keys: max_keys must be a number, not true"},
	] {
		c.message in deny_messages(with_action(c.action, c.params), {})
	}
	every c in [
		{"action": "postgres.terminate_idle", "params": {"idle_seconds": 600, "max_sessions": 5}},
		{"action": "postgres.terminate_idle", "params": {"idle_seconds": null}},
		{"action": "kubernetes.delete_pods", "params": {"selector": "a=b", "max_pods": null}},
	] {
		not denied(with_action(c.action, c.params), {}, "invalid_params")
	}
}

test_delete_pods_needs_a_selector if {
	every c in [
		{"params": {"selector": "app=checkout"}, "want": false},
		{"params": {}, "want": true},
		{"params": {"selector": ""}, "want": true},
		{"params": {"selector": "  "}, "want": true},
		{"params": {"selector": 7}, "want": true},
	] {
		denied(with_action("kubernetes.delete_pods", c.params), {}, "invalid_params") == c.want
	}
	msgs := deny_messages(with_action("kubernetes.delete_pods", {}), {})
	"kubernetes.delete_pods: selector is required (deleting every pod of a namespace is never intended)" in msgs
}

test_delete_keys_never_everything if {
	every c in [
		{"params": {"pattern": "expired:*"}, "want": false},
		{"params": {"pattern": "*:tmp"}, "want": false},
		{"params": {"pattern": "*"}, "want": true},
		{"params": {"pattern": "**"}, "want": true},
		{"params": {"pattern": ""}, "want": true},
		{"params": {}, "want": true},
	] {
		denied(with_action("redis.delete_keys", c.params), {}, "invalid_params") == c.want
	}
	msgs := deny_messages(with_action("redis.delete_keys", {"pattern": "*"}), {})
	"redis.delete_keys: pattern \"*\" would match every key; name a prefix" in msgs
}

# --- End to end ----------------------------------------------------------------

test_example_from_the_design_is_allowed_as_is if {
	inp := json.patch(with_action("kubernetes.scale", {"step": 2, "max_replicas": 10}), [{
		"op": "add", "path": "/history",
		"value": {"target_actions_last_hour": 1, "action_last_run_seconds_ago": 840, "global_actions_last_hour": 12, "consecutive_failures": 0},
	}])
	d := decide(inp, {})
	params_for(inp, {}) == {"step": 2, "max_replicas": 10}
	every code in ["protected_namespace", "disabled", "cooldown", "rate_limit_target", "rate_limit_global", "circuit_open", "at_max_replicas", "invalid_params"] {
		not code in d.codes
	}
}

test_everything_wrong_at_once if {
	inp := {
		"target": {"kind": "Namespace", "name": "kube-system", "currentReplicas": 25, "annotations": {"remediator.io/disabled": "true"}},
		"action": {"name": "kubernetes.scale", "params": {"step": 2, "max_replicas": 50}},
		"history": {"target_actions_last_hour": 5, "action_last_run_seconds_ago": 100, "global_actions_last_hour": 40, "consecutive_failures": 3},
	}
	d := decide(inp, {"allowed_actions": ["kubernetes.rollout_restart"]})
	d.allow == false
	every code in ["action_not_allowed", "at_max_replicas", "circuit_open", "cooldown", "disabled", "protected_namespace", "rate_limit_global", "rate_limit_target"] {
		code in d.codes
	}
	params_for(inp, {"allowed_actions": ["kubernetes.rollout_restart"]}) == {"step": 2, "max_replicas": 20}
	"max_replicas lowered from 50 to 20 (cap max_replicas)" in d.reasons
}
