package detect

import "strings"

// managementEventsDropped reports whether a PutEventSelectors call leaves a trail recording
// less than every management event. Basic selectors: any selector with
// IncludeManagementEvents false, ReadWriteType ReadOnly or services left out
// (ExcludeManagementEventSources), as Elastic's rule reads them. Advanced selectors record
// management events only through a selector whose eventCategory equals Management: none at
// all, or one narrowed to reads (readOnly true) or away from some services (eventSource
// NotEquals, NotStartsWith, NotEndsWith), drops them.
func managementEventsDropped(r *record) bool {
	for _, sel := range objects(r.lookup("requestParameters.eventSelectors")) {
		if strings.EqualFold(scalarText(sel["includeManagementEvents"]), "false") ||
			strings.EqualFold(scalarText(sel["readWriteType"]), "ReadOnly") {
			return true
		}
		if ex, _ := sel["excludeManagementEventSources"].([]any); len(ex) > 0 {
			return true
		}
	}
	adv := objects(r.lookup("requestParameters.advancedEventSelectors"))
	if len(adv) == 0 {
		return false
	}
	for _, sel := range adv {
		fields := objects(sel["fieldSelectors"])
		management := false
		for _, f := range fields {
			if strings.EqualFold(scalarText(f["field"]), "eventCategory") && containsFoldAny(f["equals"], "Management") {
				management = true
			}
		}
		if !management {
			continue
		}
		narrowed := false
		for _, f := range fields {
			switch strings.ToLower(scalarText(f["field"])) {
			case "readonly":
				narrowed = narrowed || containsFoldAny(f["equals"], "true")
			case "eventsource":
				narrowed = narrowed || f["notEquals"] != nil || f["notStartsWith"] != nil || f["notEndsWith"] != nil
			}
		}
		if !narrowed {
			return false // this selector records every management event
		}
	}
	return true
}

// objects returns the JSON objects of v: v itself when it is one, or the objects of a list.
func objects(v any) []map[string]any {
	switch x := v.(type) {
	case map[string]any:
		return []map[string]any{x}
	case []any:
		var out []map[string]any
		for _, e := range x {
			if m, ok := e.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out
	}
	return nil
}

// containsFoldAny reports whether v, a string or a list, holds s in any case.
func containsFoldAny(v any, s string) bool {
	switch x := v.(type) {
	case string:
		return strings.EqualFold(x, s)
	case []any:
		for _, e := range x {
			if t, ok := e.(string); ok && strings.EqualFold(t, s) {
				return true
			}
		}
	}
	return false
}
