package detect

import (
	"fmt"
	"strconv"
	"strings"
)

// shortExpiry is the age below which a lifecycle expiry deletes logs before anyone is likely
// to look for them: CIS asks for a year of CloudTrail logs, and an investigation often starts
// weeks after the fact.
const shortExpiry = 30

var shortExpiryText = fmt.Sprintf("%d days", shortExpiry)

// lifecycleExpiresSoon reports whether a PutBucketLifecycle record sets an enabled rule that
// deletes objects, or their old versions, sooner than shortExpiry days.
func lifecycleExpiresSoon(r *record) bool {
	for _, rule := range lifecycleRules(r) {
		if strings.EqualFold(scalarText(rule["Status"]), "Disabled") {
			continue
		}
		for _, p := range [][2]string{{"Expiration", "Days"}, {"NoncurrentVersionExpiration", "NoncurrentDays"}} {
			m, _ := rule[p[0]].(map[string]any)
			if d, err := strconv.ParseFloat(strings.TrimSpace(scalarText(m[p[1]])), 64); err == nil && d < shortExpiry {
				return true
			}
		}
	}
	return false
}

// lifecycleRules are the rules of the record's lifecycle configuration; S3 records a single
// rule as an object and several as an array.
func lifecycleRules(r *record) []map[string]any {
	return objects(r.lookup("requestParameters.LifecycleConfiguration.Rule"))
}
