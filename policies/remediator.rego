# The default remediator policy: may this action run on this target, and with
# which (possibly capped) parameters?
#
# The daemon asks for data.remediator.decision once per candidate action:
#
#   {"allow": bool, "reasons": [string], "params": {...}, "codes": [string]}
#
# The decision is assembled from two partial sets, so that other modules in
# package remediator can extend it without touching this file:
#
#   deny contains {"code": "my_code", "message": "why, as a sentence"} if { ... }
#   adjustments contains "what was changed, as a sentence" if { ... }
#
# and from the partial object param_overrides (param name -> new value), which
# the caps in caps.rego fill in. The limits are read from data.remediator.config
# (every key optional, defaults in default_config below) through the rule cfg,
# and checked by config_errors; data.remediator.runtime.own_namespace is set by
# the daemon. Rules: guards.rego (where, what, how often), caps.rego (params).
package remediator

# Every key can be overridden in data.remediator.config (a data file in the
# policy directory). Nested objects (cooldowns) are merged; lists replace.
default_config := {
	"protected_namespaces": ["kube-system", "kube-public", "kube-node-lease"],
	"allowed_namespaces": [],
	"allowed_actions": [],
	"allowed_env_names": [
		"SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE",
		"SPRING_DATASOURCE_HIKARI_MINIMUM_IDLE",
		"DB_POOL_SIZE",
	],
	"max_replicas": 20,
	"max_cpu": "4",
	"max_memory": "8Gi",
	"max_pods_deleted": 3,
	"max_sessions_terminated": 50,
	"min_idle_seconds": 300,
	"max_keys_deleted": 100000,
	"cooldown_seconds": 600,
	"cooldowns": {},
	"max_actions_per_target_per_hour": 3,
	"max_actions_per_hour": 30,
	"max_consecutive_failures": 3,
	"circuit_open_seconds": 1800,
}

# The effective configuration, computed once per evaluation. (Named cfg, not
# config: a rule named config would collide with the data at
# data.remediator.config.)
cfg := object.union(default_config, data.remediator.config) if {
	is_object(data.remediator.config)
} else := default_config

# The decision. No default: every part below is defined for any input, and an
# undefined decision is treated as a deny by the daemon anyway.
#
# The common case, nothing denied or changed, is answered by the first body
# without assembling (sorting, merging) anything: it is the decision the
# general one (after the else) makes in that case.
decision := {
	"allow": true,
	"reasons": ["allowed: all checks passed"],
	"params": params_in,
	"codes": [],
} if {
	deny == set()
	adjustments == set()
	param_overrides == {}
} else := {
	"allow": allow,
	"reasons": reasons,
	"params": params,
	"codes": codes,
}

allow := count(deny) == 0

codes := sort({deny_code(d) | some d in deny})

params := object.union(params_in, param_overrides)

reasons := array.concat(sort({deny_message(d) | some d in deny}), sort(adjustments)) if {
	count(deny) > 0
} else := sort(adjustments) if {
	count(adjustments) > 0
} else := ["allowed: all checks passed"]

# param_overrides and adjustments are filled from the set capped (caps.rego):
# one {"param", "value", "message"} object per changed parameter.
param_overrides[c.param] := c.value if some c in capped

adjustments contains c.message if some c in capped

# Deny entries are {"code", "message"} objects; a bare string added by a user
# rule is accepted as a message.
deny_code(d) := d.code if {
	is_string(d.code)
} else := "denied"

deny_message(d) := d.message if {
	is_string(d.message)
} else := d if {
	is_string(d)
} else := sprintf("denied: %v", [d])

# --- Input, normalised ---------------------------------------------------------

action_name := input.action.name

params_in := input.action.params if {
	is_object(input.action.params)
} else := {}

# The namespace the action touches: a Namespace target may carry its name in
# target.name only (kubernetes.scale_namespace falls back to it). "" when none.
target_namespace := input.target.namespace if {
	is_string(input.target.namespace)
	input.target.namespace != ""
} else := input.target.name if {
	input.target.kind == "Namespace"
	is_string(input.target.name)
} else := ""

deny contains {
	"code": "invalid_input",
	"message": "input.action.name is missing or not a string",
} if {
	# object.get, not input.action.name: a call on an undefined argument is
	# undefined, even under not.
	type_name(object.get(input, ["action", "name"], null)) != "string"
}

# --- Configuration checks ----------------------------------------------------
#
# config_errors lists what is wrong with data.remediator.config, as messages
# for the user. It is not evaluated per decision (it would add some 40% to the
# cost of every one): the daemon evaluates it on every load (serve, eval,
# policy test) and refuses the load with these messages if there are any, so
# a broken configuration never goes into force. The test
# test_loaded_config_is_valid asserts the same for `opa test` with the data.

numeric_config_keys := [
	"max_replicas", "max_pods_deleted", "max_sessions_terminated", "min_idle_seconds",
	"max_keys_deleted", "cooldown_seconds", "max_actions_per_target_per_hour",
	"max_actions_per_hour", "max_consecutive_failures", "circuit_open_seconds",
]

list_config_keys := ["protected_namespaces", "allowed_namespaces", "allowed_actions", "allowed_env_names"]

quantity_config_keys := ["max_cpu", "max_memory"]

# Every key of data.remediator.config must be one of default_config's: a typo
# (alowed_namespaces) would otherwise be ignored and the policy run on its
# defaults. Settings for rules of your own belong in data.remediator.custom
# (free-form) or in your own package.
config_errors contains unknown_config_key_message(key) if {
	is_object(data.remediator.config)
	some key, _ in data.remediator.config
	not key in object.keys(default_config)
}

unknown_config_key_message(key) := sprintf(
	"data.remediator.config: unknown key %q (did you mean %q?)",
	[key, nearest_config_key(key)],
) if {
	nearest_config_key(key)
} else := sprintf(
	"data.remediator.config: unknown key %q (settings of your own rules belong in data.remediator.custom)",
	[key],
)

# The known key most like key, if any is alike enough: the one sharing the
# most character pairs (Dice's coefficient of their bigrams, at least 0.5;
# the first in sort order on a tie).
nearest_config_key(key) := min({k |
	some k, s in scores
	s == best
}) if {
	scores := {k: key_similarity(key, k) | some k, _ in default_config}
	best := max({s | some s in scores})
	best >= 0.5
}

key_similarity(a, b) := (2 * count(bigrams(a) & bigrams(b))) / (count(bigrams(a)) + count(bigrams(b)))

bigrams(s) := {substring(s, i, 2) | some i in numbers.range(0, count(s) - 2)} if {
	count(s) >= 2
} else := {s}

config_errors contains "data.remediator.config must be an object" if {
	c := data.remediator.config # an absent config is fine
	not is_object(c)
}

config_errors contains sprintf("config %s must be a non-negative number", [key]) if {
	some key in numeric_config_keys
	not non_negative_number(cfg[key])
}

config_errors contains sprintf("config %s must be a list", [key]) if {
	some key in list_config_keys
	not is_array(cfg[key])
}

config_errors contains sprintf("config %s must be a positive Kubernetes quantity", [key]) if {
	some key in quantity_config_keys
	not valid_quantity(quantity_string(cfg[key]))
}

config_errors contains "config cooldowns must be an object of action name to seconds" if {
	not is_object(cfg.cooldowns)
}

config_errors contains sprintf("config cooldowns[%q] must be a non-negative number", [name]) if {
	some name, seconds in cfg.cooldowns
	not non_negative_number(seconds)
}

non_negative_number(n) if {
	is_number(n)
	n >= 0
}

# A Kubernetes quantity ("500m", "2", "512Mi", "8Gi") that parses and is above 0.
# units.parse follows Kubernetes' suffixes: m is milli, M mega, Mi mebi.
valid_quantity(q) if {
	is_string(q)
	units.parse(q) > 0
}

# Config quantities may be written as plain numbers (max_cpu: 4).
# Anything else becomes "", which is not a valid quantity.
quantity_string(q) := q if {
	is_string(q)
} else := sprintf("%v", [q]) if {
	is_number(q)
} else := ""
