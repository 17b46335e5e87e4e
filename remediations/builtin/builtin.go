// Package builtin assembles the catalogue of every action remediator ships.
package builtin

import (
	"github.com/remediator/remediator/remediations"
	"github.com/remediator/remediator/remediations/kubernetes"
	"github.com/remediator/remediator/remediations/postgres"
	"github.com/remediator/remediator/remediations/redis"
)

// Catalog returns the catalogue of all shipped actions.
func Catalog() (*remediations.Catalog, error) {
	var all []remediations.Action
	all = append(all, kubernetes.Actions()...)
	all = append(all, postgres.Actions()...)
	all = append(all, redis.Actions()...)
	return remediations.NewCatalog(all...)
}
