package audit_test

import (
	"bytes"
	"encoding/json"
	"strings"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func jsonHas(doc json.RawMessage, s string) bool { return bytes.Contains(doc, []byte(s)) }
