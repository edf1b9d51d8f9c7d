package analysis

import (
	"errors"
	"fmt"
	"strings"
)

// Bounds is the plausible range of a duration in seconds, both ends
// included. A value outside it is flagged implausible.
type Bounds struct {
	Min int64
	Max int64
}

// Thresholds are the NFPA 1710 limits in seconds and the share of
// responses that must meet them.
type Thresholds struct {
	// TurnoutEMS is the turnout limit for EMS incidents (NFPA 1710: 60 s).
	TurnoutEMS int64
	// TurnoutFire is the turnout limit for fire and other incidents
	// (NFPA 1710: 80 s).
	TurnoutFire int64
	// FirstEngineTravel is the travel limit of the first-arriving engine
	// (NFPA 1710: 240 s).
	FirstEngineTravel int64
	// AlarmProcessing is the alarm processing limit (NFPA 1710: 64 s).
	AlarmProcessing int64
	// Goal is the share of responses that must meet a limit (NFPA 1710:
	// 0.90).
	Goal float64
}

// Config tunes the metric computations. The zero value of a field means
// its default (see DefaultConfig).
type Config struct {
	// Bounds are the plausible ranges per metric; a metric missing from
	// the map keeps its default range.
	Bounds map[Metric]Bounds
	// Tolerance is how many seconds a computed duration may differ from a
	// value the export provides (extended_data, durations, NFPA) before it
	// is flagged as disagreeing.
	Tolerance float64
	// EMSCategories are the description.category values (case-insensitive)
	// of EMS incidents. When an incident has a category, it alone decides.
	EMSCategories []string
	// EMSTypePrefixes classify incidents without a category: a
	// description.type starting with one of them (case-insensitive) is EMS.
	EMSTypePrefixes []string
	// EngineUnitTypes are the apparatus.unit_type values (case-insensitive)
	// that count as engines for the first-arriving engine.
	EngineUnitTypes []string
	// NFPA are the NFPA 1710 thresholds.
	NFPA Thresholds
}

// DefaultBounds returns the default plausible range of every metric.
func DefaultBounds() map[Metric]Bounds {
	const minute, hour, day = 60, 3600, 86400
	return map[Metric]Bounds{
		Turnout:           {0, 10 * minute},
		Travel:            {0, hour},
		Response:          {0, hour},
		OnScene:           {0, day},
		Commitment:        {0, day},
		AlarmAnswering:    {0, 15 * minute},
		AlarmProcessing:   {0, 15 * minute},
		AlarmHandling:     {0, 20 * minute},
		FirstTurnout:      {0, 10 * minute},
		FirstTravel:       {0, hour},
		FirstResponse:     {0, hour},
		TotalResponse:     {0, hour},
		TotalEvent:        {0, 2 * day},
		FirstEngineTravel: {0, hour},
	}
}

// DefaultConfig returns the defaults: the NFPA 1710 (2020) thresholds,
// a 2 s tolerance, EMS by category "EMS" or a type starting with "EMS",
// engines by unit_type "Engine".
func DefaultConfig() Config {
	return Config{
		Bounds:          DefaultBounds(),
		Tolerance:       2,
		EMSCategories:   []string{"EMS"},
		EMSTypePrefixes: []string{"EMS"},
		EngineUnitTypes: []string{"Engine"},
		NFPA:            Thresholds{TurnoutEMS: 60, TurnoutFire: 80, FirstEngineTravel: 240, AlarmProcessing: 64, Goal: 0.9},
	}
}

// withDefaults fills the zero fields of c with the defaults and checks
// the result.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	b := DefaultBounds()
	for m, v := range c.Bounds {
		if !m.valid() {
			return c, fmt.Errorf("analysis config: bounds for unknown metric %d", m)
		}
		b[m] = v
	}
	c.Bounds = b
	if c.Tolerance == 0 {
		c.Tolerance = d.Tolerance
	}
	if c.EMSCategories == nil {
		c.EMSCategories = d.EMSCategories
	}
	if c.EMSTypePrefixes == nil {
		c.EMSTypePrefixes = d.EMSTypePrefixes
	}
	if c.EngineUnitTypes == nil {
		c.EngineUnitTypes = d.EngineUnitTypes
	}
	c.NFPA = c.NFPA.withDefaults(d.NFPA)
	var errs []error
	for m, v := range c.Bounds {
		if v.Min > v.Max {
			errs = append(errs, fmt.Errorf("bounds of %s: min %d > max %d", m, v.Min, v.Max))
		}
	}
	if c.Tolerance < 0 {
		errs = append(errs, errors.New("tolerance must not be negative"))
	}
	if err := c.NFPA.check(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("analysis config: %w", err)
	}
	return c, nil
}

func (t Thresholds) withDefaults(d Thresholds) Thresholds {
	if t.TurnoutEMS == 0 {
		t.TurnoutEMS = d.TurnoutEMS
	}
	if t.TurnoutFire == 0 {
		t.TurnoutFire = d.TurnoutFire
	}
	if t.FirstEngineTravel == 0 {
		t.FirstEngineTravel = d.FirstEngineTravel
	}
	if t.AlarmProcessing == 0 {
		t.AlarmProcessing = d.AlarmProcessing
	}
	if t.Goal == 0 {
		t.Goal = d.Goal
	}
	return t
}

func (t Thresholds) check() error {
	if t.TurnoutEMS < 0 || t.TurnoutFire < 0 || t.FirstEngineTravel < 0 || t.AlarmProcessing < 0 {
		return errors.New("NFPA thresholds must not be negative")
	}
	if t.Goal < 0 || t.Goal > 1 {
		return errors.New("NFPA goal must be between 0 and 1")
	}
	return nil
}

func (c *Config) isEMS(category, typ string) bool {
	if category != "" {
		for _, v := range c.EMSCategories {
			if strings.EqualFold(v, category) {
				return true
			}
		}
		return false
	}
	for _, p := range c.EMSTypePrefixes {
		if len(typ) >= len(p) && strings.EqualFold(typ[:len(p)], p) {
			return true
		}
	}
	return false
}

func (c *Config) isEngine(unitType string) bool {
	for _, v := range c.EngineUnitTypes {
		if strings.EqualFold(v, unitType) {
			return true
		}
	}
	return false
}
