package analysis_test

import (
	"time"

	"github.com/rca-engine/api/internal/analysis/logparse"
)

func parseIn(loc *time.Location) logparse.Options { return logparse.Options{Location: loc} }
