# Parameter caps: the policy lowers (or, for floors, raises) an action's
# parameters to the configured limits instead of denying it, and denies the
# parameters it cannot make safe. Every change is one entry of the set capped,
# which remediator.rego turns into param_overrides and adjustments.
package remediator

change(param, value, message) := {"param": param, "value": value, "message": message}

invalid_params(message) := {
	"code": "invalid_params",
	"message": sprintf("%s: %s", [action_name, message]),
}

# --- Numeric caps and floors ---------------------------------------------------

# Numeric parameters capped from above, by action: parameter -> config key.
upper_caps := {
	"kubernetes.scale": {"max_replicas": "max_replicas", "replicas": "max_replicas"},
	"kubernetes.scale_namespace": {"replicas": "max_replicas"},
	"kubernetes.delete_pods": {"max_pods": "max_pods_deleted"},
	"postgres.terminate_idle": {"max_sessions": "max_sessions_terminated"},
	"redis.delete_keys": {"max_keys": "max_keys_deleted"},
}

# Numeric parameters floored from below, by action: parameter -> config key.
lower_floors := {"postgres.terminate_idle": {"idle_seconds": "min_idle_seconds"}}

# Limits that the actions read as "no limit" when absent or 0 (their Go fields
# are omitempty): the policy fills in the cap.
limit_params := {"max_replicas", "max_pods", "max_sessions", "max_keys"}

capped contains change(param, limit, sprintf("%s set to %v (cap %s)", [param, limit, key])) if {
	some param, key in upper_caps[action_name]
	param in limit_params
	object.get(params_in, param, null) == null
	limit := cfg[key]
}

capped contains change(
	param, limit,
	sprintf("%s set to %v (cap %s; %v means no limit)", [param, limit, key, v]),
) if {
	some param, key in upper_caps[action_name]
	param in limit_params
	v := params_in[param]
	is_number(v)
	v <= 0
	limit := cfg[key]
}

capped contains change(param, limit, sprintf("%s lowered from %v to %v (cap %s)", [param, v, limit, key])) if {
	some param, key in upper_caps[action_name]
	v := params_in[param]
	is_number(v)
	v > 0
	limit := cfg[key]
	v > limit
}

capped contains change(param, limit, sprintf("%s raised from %v to %v (floor %s)", [param, v, limit, key])) if {
	some param, key in lower_floors[action_name]
	v := params_in[param]
	is_number(v)
	limit := cfg[key]
	v < limit
}

deny contains invalid_params(sprintf("%s must be a number, not %s", [param, json.marshal(v)])) if {
	some table in [upper_caps, lower_floors]
	some param, _ in table[action_name]
	v := params_in[param]
	v != null
	not is_number(v)
}

# --- Replicas ------------------------------------------------------------------

deny contains {
	"code": "below_min_replicas",
	"message": sprintf("%s: replicas %v is below 1 (0 needs allow_zero: true)", [action_name, r]),
} if {
	action_name in {"kubernetes.scale", "kubernetes.scale_namespace"}
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
	action_name == "kubernetes.scale"
	current := input.target.currentReplicas
	is_number(current)
	limit := params.max_replicas
	is_number(limit)
	current >= limit
	scale_out
}

# No absolute replica count, and not a scale-in by a negative step or a factor
# below 1.
scale_out if {
	not is_number(params_in.replicas)
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

# The config key and the cap of kubernetes.set_resources' resource.
resource_cap_key := resource_cap_keys[params_in.resource] if action_name == "kubernetes.set_resources"

resource_cap := quantity_string(cfg[resource_cap_key])

deny contains invalid_params(sprintf(
	"resource must be cpu or memory, not %s",
	[json.marshal(object.get(params_in, "resource", null))],
)) if {
	action_name == "kubernetes.set_resources"
	not resource_cap_keys[params_in.resource]
}

# "" and null mean "not set" (value: use factor; max: no limit).
deny contains invalid_params(sprintf(
	"%s must be a positive Kubernetes quantity such as \"500m\" or \"512Mi\", not %s",
	[key, json.marshal(q)],
)) if {
	action_name == "kubernetes.set_resources"
	some key in ["max", "value"]
	q := params_in[key]
	not q in {null, ""}
	not valid_quantity(q)
}

capped contains change("max", resource_cap, sprintf("max set to %s (cap %s)", [resource_cap, resource_cap_key])) if {
	object.get(params_in, "max", null) in {null, ""}
}

capped contains change(key, resource_cap, sprintf("%s lowered from %s to %s (cap %s)", [key, q, resource_cap, resource_cap_key])) if {
	some key in ["max", "value"]
	q := params_in[key]
	valid_quantity(q)
	units.parse(q) > units.parse(resource_cap)
}

# --- Selectors and patterns ----------------------------------------------------

deny contains invalid_params("selector is required (deleting every pod of a namespace is never intended)") if {
	action_name == "kubernetes.delete_pods"
	not non_blank_string(object.get(params_in, "selector", null))
}

deny contains invalid_params(sprintf(
	"pattern %s would match every key; name a prefix",
	[json.marshal(object.get(params_in, "pattern", null))],
)) if {
	action_name == "redis.delete_keys"
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
