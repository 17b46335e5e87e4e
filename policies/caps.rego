# Parameter caps: the policy lowers (or, for the idle floor, raises) an
# action's parameters to the configured limits instead of denying it, and
# denies the parameters it cannot make safe. Every change is one entry of the
# set capped, which remediator.rego turns into param_overrides and adjustments.
#
# Performance: rules that concern one action start with
# input.action.name == "...", which OPA's rule index uses to skip them for
# every other action; keep it that way when adding rules.
package remediator

change(param, value, message) := {"param": param, "value": value, "message": message}

invalid_params(message) := {
	"code": "invalid_params",
	"message": sprintf("%s: %s", [action_name, message]),
}

# --- Numeric caps --------------------------------------------------------------

# Numeric parameters capped from above, by action: parameter -> config key.
upper_caps := {
	"kubernetes.scale": {"max_replicas": "max_replicas", "replicas": "max_replicas"},
	"kubernetes.scale_namespace": {"replicas": "max_replicas"},
	"kubernetes.delete_pods": {"max_pods": "max_pods_deleted"},
	"postgres.terminate_idle": {"max_sessions": "max_sessions_terminated"},
	"redis.delete_keys": {"max_keys": "max_keys_deleted"},
}

# Limits that the actions read as "no limit" when absent or 0 (their Go fields
# are omitempty): the policy fills in the cap.
limit_params := {"max_replicas", "max_pods", "max_sessions", "max_keys"}

capped contains c if {
	some param, key in upper_caps[action_name]
	c := upper_cap_change(param, key, object.get(params_in, param, null), cfg[key])
}

# The change that caps parameter param (value v) at limit (config key key);
# undefined when v is within the limit or not a number.
# The branches exclude each other; the cheapest test that fails for a value
# within the limit comes first in each.
upper_cap_change(param, key, v, limit) := change(param, limit, sprintf("%s lowered from %v to %v (cap %s)", [param, v, limit, key])) if {
	v > limit
	is_number(v)
	v > 0
} else := change(param, limit, sprintf("%s set to %v (cap %s)", [param, limit, key])) if {
	v == null
	param in limit_params
} else := change(param, limit, sprintf("%s set to %v (cap %s; %v means no limit)", [param, limit, key, v])) if {
	v <= 0
	is_number(v)
	param in limit_params
}

# (type_name rather than "not is_number": a negation costs more than a comparison.)
deny contains invalid_params(sprintf("%s must be a number, not %s", [param, json.marshal(v)])) if {
	some param, _ in upper_caps[action_name]
	v := params_in[param]
	type_name(v) != "number"
	v != null
}

# --- Idle floor ----------------------------------------------------------------

capped contains change(
	"idle_seconds", cfg.min_idle_seconds,
	sprintf("idle_seconds raised from %v to %v (floor min_idle_seconds)", [v, cfg.min_idle_seconds]),
) if {
	input.action.name == "postgres.terminate_idle"
	v := params_in.idle_seconds
	is_number(v)
	v < cfg.min_idle_seconds
}

deny contains invalid_params(sprintf("idle_seconds must be a number, not %s", [json.marshal(v)])) if {
	input.action.name == "postgres.terminate_idle"
	v := params_in.idle_seconds
	v != null
	type_name(v) != "number"
}

# --- Replicas ------------------------------------------------------------------

deny contains below_min_replicas if {
	input.action.name == "kubernetes.scale"
}

deny contains below_min_replicas if {
	input.action.name == "kubernetes.scale_namespace"
}

# Checked on the capped params: a cap of 0 makes replicas 0 too.
below_min_replicas := {
	"code": "below_min_replicas",
	"message": sprintf("%s: replicas %v is below 1 (0 needs allow_zero: true)", [action_name, r]),
} if {
	r := params.replicas
	is_number(r)
	r < 1
	not zero_allowed(r)
}

zero_allowed(r) if {
	r == 0
	params_in.allow_zero == true
}

# A scale-out (by step or factor) of a workload that already runs at least the
# effective max_replicas cannot be capped into anything useful.
deny contains {
	"code": "at_max_replicas",
	"message": sprintf(
		"kubernetes.scale: the target already runs %v replicas, at or above max_replicas %v; it cannot scale out further",
		[current, limit],
	),
} if {
	input.action.name == "kubernetes.scale"
	current := input.target.currentReplicas
	limit := params.max_replicas
	current >= limit
	is_number(current)
	is_number(limit)
	scale_out
}

# No absolute replica count, and not a scale-in by a negative step or a factor
# below 1.
scale_out if {
	not is_number(object.get(params_in, "replicas", null))
	not scale_in
}

scale_in if {
	is_number(params_in.step)
	params_in.step < 0
}

scale_in if {
	is_number(params_in.factor)
	params_in.factor < 1
}

# --- CPU and memory ------------------------------------------------------------

resource_cap_keys := {"cpu": "max_cpu", "memory": "max_memory"}

# The config key and the cap (a quantity string) of the resource of
# kubernetes.set_resources; undefined for any other resource.
resource_cap_key := resource_cap_keys[params_in.resource]

resource_cap := quantity_string(cfg[resource_cap_key])

deny contains invalid_params(sprintf(
	"resource must be cpu or memory, not %s",
	[json.marshal(object.get(params_in, "resource", null))],
)) if {
	input.action.name == "kubernetes.set_resources"
	not object.get(params_in, "resource", null) in object.keys(resource_cap_keys)
}

# "" and null mean "not set" (value: use factor; max: no limit).
deny contains invalid_params(sprintf(
	"%s must be a positive Kubernetes quantity such as \"500m\" or \"512Mi\", not %s",
	[key, json.marshal(q)],
)) if {
	input.action.name == "kubernetes.set_resources"
	some key in ["max", "value"]
	q := params_in[key]
	not q in {null, ""}
	not valid_quantity(q)
}

capped contains change("max", resource_cap, sprintf("max set to %s (cap %s)", [resource_cap, resource_cap_key])) if {
	input.action.name == "kubernetes.set_resources"
	object.get(params_in, "max", null) in {null, ""}
}

capped contains change(key, resource_cap, sprintf("%s lowered from %s to %s (cap %s)", [key, q, resource_cap, resource_cap_key])) if {
	input.action.name == "kubernetes.set_resources"
	some key in ["max", "value"]
	q := params_in[key]
	valid_quantity(q)
	units.parse(q) > units.parse(resource_cap)
}

# --- Selectors and patterns ----------------------------------------------------

deny contains invalid_params("selector is required (deleting every pod of a namespace is never intended)") if {
	input.action.name == "kubernetes.delete_pods"
	not non_blank_string(object.get(params_in, "selector", null))
}

deny contains invalid_params(sprintf(
	"pattern %s would match every key; name a prefix",
	[json.marshal(object.get(params_in, "pattern", null))],
)) if {
	input.action.name == "redis.delete_keys"
	not specific_pattern(object.get(params_in, "pattern", null))
}

non_blank_string(s) if {
	is_string(s)
	trim_space(s) != ""
}

specific_pattern(p) if {
	is_string(p)
	trim(p, "*") != ""
}
