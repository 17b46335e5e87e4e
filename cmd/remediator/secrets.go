package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/remediator/remediator/internal/httpauth"
)

// secretSource is where one secret may come from: an environment variable or
// a file named by a flag, never both. Secrets are never flag values: those
// show up in `ps` and shell history.
type secretSource struct {
	what    string // "the alerts token", for errors
	env     string // REMEDIATOR_AUTH_TOKEN
	flag    string // --auth-token-file
	fileEnv string // REMEDIATOR_AUTH_TOKEN_FILE, the flag's own variable
	file    string // the flag's value
}

// read returns the secret and where it came from, or "" and "" when nothing
// sets it. Something that is set but empty (or only whitespace) is an error
// naming it, never the absence of a secret: a Secret mounted before it was
// filled, or a variable templated from a missing key, must stop the start
// rather than turn authentication off. A file's content is trimmed (editors
// and echo end it with a newline); a variable's value is returned as it is.
func (s secretSource) read() (value, from string, err error) {
	env, envSet := os.LookupEnv(s.env)
	if s.file == "" {
		// kingpin ignores an empty variable for the flag; it must not be
		// taken for "no file".
		if v, ok := os.LookupEnv(s.fileEnv); ok && strings.TrimSpace(v) == "" {
			return "", "", fmt.Errorf("%s is set but empty", s.fileEnv)
		}
	}
	// Name the file the way the user gave it: by the flag, or by its
	// variable.
	fileName := s.flag
	if s.file != "" && os.Getenv(s.fileEnv) == s.file {
		fileName = s.fileEnv
	}
	switch {
	case envSet && s.file != "":
		return "", "", fmt.Errorf("%s and %s both set %s; use one", s.env, fileName, s.what)
	case s.file != "":
		from = fileName + " " + s.file
		b, err := os.ReadFile(s.file)
		if err != nil {
			return "", "", fmt.Errorf("%s: %w", from, err)
		}
		value = strings.TrimSpace(string(b))
		if value == "" {
			return "", "", fmt.Errorf("%s: file is empty", from)
		}
		return value, from, nil
	case envSet:
		if strings.TrimSpace(env) == "" {
			return "", "", fmt.Errorf("%s is set but empty", s.env)
		}
		return env, s.env, nil
	}
	return "", "", nil
}

// roleNames are the flags (without "--") and variables of one role's
// credentials. The alerts role's predate roles, hence their names.
type roleNames struct {
	tokenEnv, tokenFlag, tokenFileEnv string
	userEnv, userFlag                 string
	passEnv, passFlag, passFileEnv    string
}

func namesOf(role httpauth.Role) roleNames {
	if role == httpauth.Read {
		return roleNames{
			tokenEnv: "REMEDIATOR_READ_TOKEN", tokenFlag: "read-token-file", tokenFileEnv: "REMEDIATOR_READ_TOKEN_FILE",
			userEnv: "REMEDIATOR_READ_BASIC_AUTH_USERNAME", userFlag: "read-basic-auth-username",
			passEnv: "REMEDIATOR_READ_BASIC_AUTH_PASSWORD", passFlag: "read-basic-auth-password-file", passFileEnv: "REMEDIATOR_READ_BASIC_AUTH_PASSWORD_FILE",
		}
	}
	return roleNames{
		tokenEnv: "REMEDIATOR_AUTH_TOKEN", tokenFlag: "auth-token-file", tokenFileEnv: "REMEDIATOR_AUTH_TOKEN_FILE",
		userEnv: "REMEDIATOR_BASIC_AUTH_USERNAME", userFlag: "basic-auth-username",
		passEnv: "REMEDIATOR_BASIC_AUTH_PASSWORD", passFlag: "basic-auth-password-file", passFileEnv: "REMEDIATOR_BASIC_AUTH_PASSWORD_FILE",
	}
}

// tokenSource is where role's bearer token comes from; file is the value of
// its --...token-file flag.
func tokenSource(role httpauth.Role, file string) secretSource {
	n := namesOf(role)
	return secretSource{what: "the " + string(role) + " token", env: n.tokenEnv, flag: "--" + n.tokenFlag, fileEnv: n.tokenFileEnv, file: file}
}

// roleFlags are the flag values of one role's credentials: a bearer token,
// basic auth, or both (either is accepted, e.g. while moving from one to
// the other).
type roleFlags struct {
	role      httpauth.Role
	tokenFile string
	user      string
	userSet   bool // the username flag was given on the command line
	passFile  string
}

// addRoleFlags registers the credential flags of role on cmd.
func addRoleFlags(cmd *kingpin.CmdClause, role httpauth.Role, tokenHelp, userHelp string) *roleFlags {
	n := namesOf(role)
	f := &roleFlags{role: role}
	cmd.Flag(n.tokenFlag, tokenHelp).Envar(n.tokenFileEnv).ExistingFileVar(&f.tokenFile)
	cmd.Flag(n.userFlag, userHelp).Envar(n.userEnv).IsSetByUser(&f.userSet).StringVar(&f.user)
	cmd.Flag(n.passFlag, "File holding the "+string(role)+" role's basic auth password.").Envar(n.passFileEnv).ExistingFileVar(&f.passFile)
	return f
}

// credential builds the role's credential from its flags and variables; nil
// when none is set.
func (f *roleFlags) credential() (httpauth.Credential, error) {
	n := namesOf(f.role)
	var creds []httpauth.Credential
	tok, from, err := tokenSource(f.role, f.tokenFile).read()
	if err != nil {
		return nil, err
	}
	if tok != "" {
		c, err := httpauth.BearerToken(tok)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", from, err)
		}
		creds = append(creds, c)
	}
	user, userFrom, err := f.username()
	if err != nil {
		return nil, err
	}
	pass, passFrom, err := secretSource{what: "the " + string(f.role) + " basic auth password",
		env: n.passEnv, flag: "--" + n.passFlag, fileEnv: n.passFileEnv, file: f.passFile}.read()
	if err != nil {
		return nil, err
	}
	switch {
	case user == "" && pass == "":
	case pass == "":
		return nil, fmt.Errorf("%s is set but no password: set %s or --%s", userFrom, n.passEnv, n.passFlag)
	case user == "":
		return nil, fmt.Errorf("%s is set but no username: set %s or --%s", passFrom, n.userEnv, n.userFlag)
	default:
		c, err := httpauth.BasicAuth(user, pass)
		if err != nil {
			return nil, fmt.Errorf("%s, %s: %w", userFrom, passFrom, err)
		}
		creds = append(creds, c)
	}
	switch len(creds) {
	case 0:
		return nil, nil
	case 1:
		return creds[0], nil
	}
	return httpauth.AnyOf(creds...)
}

// username is the basic auth username and where it came from. Set but empty
// is an error, as for secrets.
func (f *roleFlags) username() (user, from string, err error) {
	n := namesOf(f.role)
	from = n.userEnv
	if f.userSet {
		from = "--" + n.userFlag
	}
	if f.user == "" {
		if f.userSet {
			return "", "", fmt.Errorf("--%s is empty", n.userFlag)
		}
		if _, ok := os.LookupEnv(n.userEnv); ok {
			return "", "", fmt.Errorf("%s is set but empty", n.userEnv)
		}
		return "", "", nil
	}
	if strings.TrimSpace(f.user) == "" {
		return "", "", fmt.Errorf("%s is only whitespace", from)
	}
	return f.user, from, nil
}
