# Who and what may be touched, and how often: the deny rules that do not
# depend on the action's parameters.
package remediator

# --- Where ---------------------------------------------------------------------

deny contains {
	"code": "protected_namespace",
	"message": sprintf("namespace %s is protected (config protected_namespaces); remediator never acts there", [target_namespace]),
} if {
	target_namespace in cfg.protected_namespaces
	target_namespace != ""
}

deny contains {
	"code": "protected_namespace",
	"message": sprintf("namespace %s is remediator's own namespace; remediator never acts there", [target_namespace]),
} if {
	target_namespace == data.remediator.runtime.own_namespace
	target_namespace != ""
}

deny contains {
	"code": "disabled",
	"message": "the target is annotated remediator.io/disabled=true; remediation is disabled for it",
} if {
	input.target.annotations["remediator.io/disabled"] == "true"
}

deny contains {
	"code": "disabled",
	"message": sprintf("namespace %s is annotated remediator.io/disabled=true; remediation is disabled for everything in it", [target_namespace]),
} if {
	input.target.namespaceAnnotations["remediator.io/disabled"] == "true"
}

# An empty allowed_namespaces allows every namespace; targets without a
# namespace (PostgreSQL, Redis) are not subject to it.
deny contains {
	"code": "namespace_not_allowed",
	"message": sprintf("namespace %s is not in allowed_namespaces", [target_namespace]),
} if {
	count(cfg.allowed_namespaces) > 0
	target_namespace != ""
	not target_namespace in cfg.allowed_namespaces
}

# --- What ----------------------------------------------------------------------

deny contains {
	"code": "action_not_allowed",
	"message": sprintf("action %s is not in allowed_actions", [action_name]),
} if {
	count(cfg.allowed_actions) > 0
	is_string(action_name)
	not action_name in cfg.allowed_actions
}

deny contains {
	"code": "env_not_allowed",
	"message": sprintf("environment variable %s is not in allowed_env_names", [json.marshal(env_name)]),
} if {
	input.action.name == "kubernetes.set_env"
	count(cfg.allowed_env_names) > 0
	env_name := object.get(params_in, "name", null)
	not env_name in cfg.allowed_env_names
}

# --- How often -----------------------------------------------------------------
#
# A missing history counter counts as 0 (object.get's default).

# The cooldown of the action: cooldowns[action] if set, else cooldown_seconds.
action_cooldown := s if {
	s := cfg.cooldowns[action_name]
	is_number(s)
} else := cfg.cooldown_seconds

deny contains {
	"code": "cooldown",
	"message": sprintf(
		"%s ran on this target %vs ago; cooldown is %vs, %vs remaining",
		[action_name, floor(last), action_cooldown, ceil(action_cooldown - last)],
	),
} if {
	last := input.history.action_last_run_seconds_ago
	is_number(last)
	last < action_cooldown
}

deny contains {
	"code": "rate_limit_target",
	"message": sprintf(
		"%v actions on this target in the last hour; the limit is %v (max_actions_per_target_per_hour)",
		[n, cfg.max_actions_per_target_per_hour],
	),
} if {
	n := object.get(input, ["history", "target_actions_last_hour"], 0)
	n >= cfg.max_actions_per_target_per_hour
}

deny contains {
	"code": "rate_limit_global",
	"message": sprintf(
		"%v actions in the last hour across all targets; the limit is %v (max_actions_per_hour)",
		[n, cfg.max_actions_per_hour],
	),
} if {
	n := object.get(input, ["history", "global_actions_last_hour"], 0)
	n >= cfg.max_actions_per_hour
}

deny contains {
	"code": "circuit_open",
	"message": sprintf(
		"circuit open: %v consecutive failed actions, the limit is %v (max_consecutive_failures)",
		[n, cfg.max_consecutive_failures],
	),
} if {
	n := object.get(input, ["history", "consecutive_failures"], 0)
	n >= cfg.max_consecutive_failures
	not circuit_half_open
}

# A denied action never runs, so its failure streak would never end and the
# circuit would stay open for good. After circuit_open_seconds without a run
# one attempt is let through: its success resets the streak, its failure
# opens the circuit again. An unknown last run keeps the circuit open.
circuit_half_open if {
	last := input.history.action_last_run_seconds_ago
	is_number(last)
	last >= cfg.circuit_open_seconds
}
