package state

import (
	"context"
	"time"
)

// memIncident is an incident and when it is forgotten.
type memIncident struct {
	Incident
	expires time.Time
}

// incidentLocked returns the unexpired incident key, or nil. m.mu is held.
func (m *Memory) incidentLocked(key string, now time.Time) *memIncident {
	inc, ok := m.incidents[key]
	if !ok || !now.Before(inc.expires) {
		return nil
	}
	return inc
}

func (i *memIncident) at(now time.Time) Incident {
	out := i.Incident
	out.Now = now
	return out
}

// OpenIncident implements Incidents.
func (m *Memory) OpenIncident(_ context.Context, key, _ string) (Incident, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	defer m.sweepLocked(now)
	if inc := m.incidentLocked(key, now); inc != nil {
		if inc.Open() {
			inc.expires = now.Add(IncidentRetention)
		}
		return inc.at(now), false, nil
	}
	inc := &memIncident{Incident: Incident{OpenedAt: now, SteppedAt: now}, expires: now.Add(IncidentRetention)}
	m.incidents[key] = inc
	return inc.at(now), true, nil
}

// EscalateIncident implements Incidents.
func (m *Memory) EscalateIncident(_ context.Context, key string, step int, after time.Duration) (Incident, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	inc := m.incidentLocked(key, now)
	if inc == nil {
		return Incident{Now: now}, false, nil
	}
	if !inc.Open() || inc.Step != step || now.Sub(inc.SteppedAt) < after {
		return inc.at(now), false, nil
	}
	inc.Step++
	inc.SteppedAt = now
	inc.expires = now.Add(IncidentRetention)
	return inc.at(now), true, nil
}

// TookOption implements Incidents.
func (m *Memory) TookOption(_ context.Context, key string, option int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if inc := m.incidentLocked(key, m.now()); inc != nil && inc.Open() && option > inc.Option {
		inc.Option = option
	}
	return nil
}

// AbandonIncident implements Incidents.
func (m *Memory) AbandonIncident(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if inc := m.incidentLocked(key, m.now()); inc != nil && inc.Open() && inc.Step == 0 && inc.Option == 0 {
		delete(m.incidents, key)
	}
	return nil
}

// CloseIncident implements Incidents.
func (m *Memory) CloseIncident(_ context.Context, key string) (Incident, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	inc := m.incidentLocked(key, now)
	if inc == nil {
		return Incident{Now: now}, false, nil
	}
	if !inc.Open() {
		return inc.at(now), false, nil
	}
	inc.ClosedAt = now
	inc.expires = now.Add(ClosedIncidentRetention)
	return inc.at(now), true, nil
}
