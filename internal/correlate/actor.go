package correlate

import (
	"context"
	"strings"
	"time"

	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/finding"
)

// identity is the part of a record's userIdentity that says who called.
type identity struct {
	Type           string `json:"t,omitempty"`
	ARN            string `json:"a,omitempty"`
	PrincipalID    string `json:"pi,omitempty"`
	Account        string `json:"c,omitempty"`
	AccessKeyID    string `json:"k,omitempty"`
	UserName       string `json:"u,omitempty"`
	InvokedBy      string `json:"i,omitempty"`
	SourceIdentity string `json:"s,omitempty"`
	IssuerARN      string `json:"ia,omitempty"`
	IssuerType     string `json:"it,omitempty"`
	IdentityStore  string `json:"is,omitempty"` // Identity Center: identity store ARN
	OnBehalfOf     string `json:"ob,omitempty"` // Identity Center: user id
	Provider       string `json:"p,omitempty"`  // SAML or web identity provider
}

// str is r.Str(path) for the caller's paths the identity holds, read from r otherwise.
func (id *identity) str(r *fields, path string) string {
	switch path {
	case "userIdentity.type":
		return id.Type
	case "userIdentity.arn":
		return id.ARN
	case "userIdentity.principalId":
		return id.PrincipalID
	case "userIdentity.accountId":
		return id.Account
	case "userIdentity.accessKeyId":
		return id.AccessKeyID
	case "userIdentity.userName":
		return id.UserName
	case "userIdentity.invokedBy":
		return id.InvokedBy
	case "userIdentity.onBehalfOf.userId":
		return id.OnBehalfOf
	}
	return r.Str(path)
}

func identityOf(r *fields) identity {
	b := r.Member("userIdentity")
	if b != nil {
		if id, ok := identityFrom(b); ok {
			return id
		}
	} else if r.spans {
		return identity{} // none: each of its paths reads ""
	}
	return identity{
		Type: r.Str("userIdentity.type"), ARN: r.Str("userIdentity.arn"), PrincipalID: r.Str("userIdentity.principalId"),
		Account: r.Str("userIdentity.accountId"), AccessKeyID: r.Str("userIdentity.accessKeyId"),
		UserName: r.Str("userIdentity.userName"), InvokedBy: r.Str("userIdentity.invokedBy"),
		SourceIdentity: r.Str("userIdentity.sessionContext.sourceIdentity"),
		IssuerARN:      r.Str("userIdentity.sessionContext.sessionIssuer.arn"),
		IssuerType:     r.Str("userIdentity.sessionContext.sessionIssuer.type"),
		IdentityStore:  r.Str("userIdentity.onBehalfOf.identityStoreArn"), OnBehalfOf: r.Str("userIdentity.onBehalfOf.userId"),
		Provider: r.Str("userIdentity.identityProvider"),
	}
}

// identityFrom reads userIdentity's JSON member by member, without a decoder: it runs on
// every record the rules with memory take in. False for a shape it does not know (then the
// record's paths are read).
func identityFrom(b []byte) (identity, bool) {
	var id identity
	ok := true
	str := func(v []byte, dst *string) {
		if s, good := detect.String(v); good {
			*dst = s
		} else if string(v) != "null" {
			ok = false
		}
	}
	whole := detect.Members(b, func(key, v []byte) {
		switch string(key) {
		case "type":
			str(v, &id.Type)
		case "arn":
			str(v, &id.ARN)
		case "principalId":
			str(v, &id.PrincipalID)
		case "accountId":
			str(v, &id.Account)
		case "accessKeyId":
			str(v, &id.AccessKeyID)
		case "userName":
			str(v, &id.UserName)
		case "invokedBy":
			str(v, &id.InvokedBy)
		case "identityProvider":
			str(v, &id.Provider)
		case "sessionContext":
			ok = ok && detect.Members(v, func(key, v []byte) {
				switch string(key) {
				case "sourceIdentity":
					str(v, &id.SourceIdentity)
				case "sessionIssuer":
					ok = ok && detect.Members(v, func(key, v []byte) {
						switch string(key) {
						case "arn":
							str(v, &id.IssuerARN)
						case "type":
							str(v, &id.IssuerType)
						}
					})
				}
			})
		case "onBehalfOf":
			ok = ok && detect.Members(v, func(key, v []byte) {
				switch string(key) {
				case "userId":
					str(v, &id.OnBehalfOf)
				case "identityStoreArn":
					str(v, &id.IdentityStore)
				}
			})
		}
	})
	return id, whole && ok
}

// fact is what an STS call that issued credentials says about the session they open: who
// asked for them. Facts do not depend on the order records arrive in: each access key is
// issued once.
type fact struct {
	Caller identity `json:"c"`
	// Session is the session's ARN (an assumed role or federated user), when the response
	// names it.
	Session string `json:"s,omitempty"`
}

// sessionLimit bounds how long credentials are followed when the response does not say:
// GetSessionToken and GetFederationToken sessions last at most 36 hours.
const sessionLimit = 36 * time.Hour

// credentialFact reads an STS call by caller that issued credentials: the key it issued, what
// it says and until when the key is valid (event time, Unix ns).
func credentialFact(r *fields, caller identity, at time.Time) (key string, f fact, exp int64) {
	var resp stsResponse
	if b := r.Member("responseElements"); b == nil || !resp.read(b) {
		// decoded whole already, or in an odd shape: read its paths
		resp = stsResponse{
			AccessKeyID: r.Str("responseElements.credentials.accessKeyId"), Expiration: r.Str("responseElements.credentials.expiration"),
			AssumedRoleARN: r.Str("responseElements.assumedRoleUser.arn"), FederatedARN: r.Str("responseElements.federatedUser.arn"),
			Subject: r.Str("responseElements.subject"), Issuer: r.Str("responseElements.issuer"),
			WebSubject: r.Str("responseElements.subjectFromWebIdentityToken"), Provider: r.Str("responseElements.provider"),
		}
	}
	key = resp.AccessKeyID
	if key == "" {
		return "", f, 0
	}
	f.Caller = caller
	f.Caller.PrincipalID = "" // resolution does not need it: facts stay small
	f.Session = cmpOr(resp.AssumedRoleARN, resp.FederatedARN)
	switch r.Str("eventName") {
	case "AssumeRoleWithSAML":
		// the caller is the IdP's user: the subject and issuer the response names
		if resp.Subject != "" {
			f.Caller.Type, f.Caller.UserName = "SAMLUser", resp.Subject
		}
		f.Caller.Provider = cmpOr(resp.Issuer, f.Caller.Provider, r.Str("requestParameters.principalArn"))
	case "AssumeRoleWithWebIdentity":
		if resp.WebSubject != "" {
			f.Caller.Type, f.Caller.UserName = "WebIdentityUser", resp.WebSubject
		}
		f.Caller.Provider = cmpOr(resp.Provider, f.Caller.Provider)
	}
	exp = at.Add(sessionLimit).UnixNano()
	if t, ok := parseExpiration(resp.Expiration); ok && t.After(at) && t.Before(at.Add(sessionLimit)) {
		exp = t.UnixNano()
	}
	return key, f, exp
}

// stsResponse is what an STS response says about the credentials it issued.
type stsResponse struct {
	AccessKeyID, Expiration, AssumedRoleARN, FederatedARN string
	Subject, Issuer, WebSubject, Provider                 string
}

// read reads responseElements member by member; false for a shape it does not know.
func (s *stsResponse) read(b []byte) bool {
	ok := true
	str := func(v []byte, dst *string) {
		if t, good := detect.String(v); good {
			*dst = t
		} else if string(v) != "null" {
			ok = false
		}
	}
	arnOf := func(v []byte, dst *string) {
		ok = ok && detect.Members(v, func(key, v []byte) {
			if string(key) == "arn" {
				str(v, dst)
			}
		})
	}
	whole := detect.Members(b, func(key, v []byte) {
		switch string(key) {
		case "credentials":
			ok = ok && detect.Members(v, func(key, v []byte) {
				switch string(key) {
				case "accessKeyId":
					str(v, &s.AccessKeyID)
				case "expiration":
					str(v, &s.Expiration)
				}
			})
		case "assumedRoleUser":
			arnOf(v, &s.AssumedRoleARN)
		case "federatedUser":
			arnOf(v, &s.FederatedARN)
		case "subject":
			str(v, &s.Subject)
		case "issuer":
			str(v, &s.Issuer)
		case "subjectFromWebIdentityToken":
			str(v, &s.WebSubject)
		case "provider":
			str(v, &s.Provider)
		}
	})
	return whole && ok
}

// parseExpiration reads credentials' expiration: RFC 3339, or the "Jan 2, 2006, 3:04:05 PM"
// that CloudTrail writes for STS responses.
func parseExpiration(s string) (time.Time, bool) {
	// Only RFC 3339 starts with a digit, and only the first of CloudTrail's has two commas
	// before the time (a fraction of a second may follow one): one layout to try.
	layout := "Jan 2, 2006 3:04:05 PM"
	date, _, _ := strings.Cut(s, ":")
	switch {
	case s != "" && '0' <= s[0] && s[0] <= '9':
		layout = time.RFC3339
	case strings.Count(date, ",") >= 2:
		layout = "Jan 2, 2006, 3:04:05 PM"
	}
	if layout != time.RFC3339 {
		if t, ok := cloudTrailTime(s); ok {
			return t, true
		}
	}
	t, err := time.Parse(layout, s)
	return t, err == nil
}

// cloudTrailTime reads CloudTrail's "Jan 2, 2006, 3:04:05 PM" (or with no comma after the
// year) as time.Parse does, for text written exactly so: a month's usual name, single spaces,
// whole seconds. False leaves anything else to time.Parse (whose layouts are interpreted
// anew for each call: the millions of STS records a day make it worth the few lines).
func cloudTrailTime(s string) (time.Time, bool) {
	const months = "JanFebMarAprMayJunJulAugSepOctNovDec"
	if len(s) < len("Jan 2, 2006 3:04:05 PM") || s[3] != ' ' {
		return time.Time{}, false
	}
	m := strings.Index(months, s[:3])
	if m < 0 || m%3 != 0 {
		return time.Time{}, false
	}
	i := 4
	// num reads one or two digits (two when want is 2) at i
	num := func(want int) (int, bool) {
		n, d := 0, 0
		for d < 2 && i < len(s) && '0' <= s[i] && s[i] <= '9' {
			n, d, i = n*10+int(s[i]-'0'), d+1, i+1
		}
		return n, d > 0 && (want == 0 || d == want)
	}
	lit := func(l string) bool {
		if !strings.HasPrefix(s[i:], l) {
			return false
		}
		i += len(l)
		return true
	}
	day, ok := num(0)
	if !ok || !lit(", ") || len(s) < i+4 {
		return time.Time{}, false
	}
	year := 0
	for _, c := range []byte(s[i : i+4]) {
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
		year = year*10 + int(c-'0')
	}
	i += 4
	if !lit(", ") && !lit(" ") {
		return time.Time{}, false
	}
	hour, ok1 := num(0)
	ok2 := lit(":")
	min, ok3 := num(2)
	ok4 := lit(":")
	sec, ok5 := num(2)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || hour > 12 || min > 59 || sec > 59 || !lit(" ") || len(s) != i+2 {
		return time.Time{}, false
	}
	switch s[i:] {
	case "PM":
		if hour < 12 {
			hour += 12
		}
	case "AM":
		if hour == 12 {
			hour = 0
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(m/3+1), day, hour, min, sec, 0, time.UTC)
	if day < 1 || t.Day() != day {
		return time.Time{}, false // out of the month's range: time.Parse says so
	}
	return t, true
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// resolveCaller is resolve for a caller Add read (shared by the records of its
// userIdentity): the actor it names by itself, if any, is made once, not once per record.
func (e *Engine) resolveCaller(ctx context.Context, id *identity, now int64) (*finding.Actor, error) {
	a, ok := e.directs[id]
	if !ok {
		if e.directs == nil || len(e.directs) >= maxCallers {
			e.directs = map[*identity]*finding.Actor{}
		}
		a = direct(*id)
		e.directs[id] = a
	}
	if a != nil {
		return a, nil // resolve's first step: a caller that names its actor
	}
	return e.resolve(ctx, *id, now)
}

// maxChain bounds how many role sessions resolution follows (role chaining is rarely deep).
const maxChain = 8

// resolve finds the actor behind a caller at event time now: directly for users, root,
// Identity Center and federated subjects; for a role session through the fact of the call
// that issued its key, and so on up the chain; else by the session's Identity Center user or
// source identity. Unknown is nil.
func (e *Engine) resolve(ctx context.Context, id identity, now int64) (*finding.Actor, error) {
	var via []string
	seen := map[string]bool{}
	for range maxChain {
		if a := direct(id); a != nil {
			a.Via = append(a.Via, via...)
			return a, nil
		}
		if id.Type != "AssumedRole" && id.Type != "FederatedUser" {
			return nil, nil
		}
		session := id.ARN
		if id.AccessKeyID != "" && !seen[id.AccessKeyID] {
			seen[id.AccessKeyID] = true
			f, ok, err := e.st.facts.get(ctx, id.AccessKeyID, now)
			if err != nil {
				return nil, err
			}
			if ok {
				via = append([]string{cmpOr(session, f.Session)}, via...)
				id = f.Caller
				continue
			}
		}
		if a := sessionActor(id); a != nil {
			a.Via = append([]string{session}, via...)
			return a, nil
		}
		return nil, nil
	}
	return nil, nil
}

// hiddenUser is what CloudTrail writes as the user name of a failed sign-in whose name is
// not a user of the account (it may be a password typed into the name field).
const hiddenUser = "HIDDEN_DUE_TO_SECURITY_REASONS"

// direct is the actor a caller identity names by itself.
func direct(id identity) *finding.Actor {
	switch id.Type {
	case "IAMUser":
		if id.UserName == hiddenUser {
			return nil // a sign-in failure for a name that is not a user of the account
		}
		arn := id.ARN
		if arn == "" && id.Account != "" && id.UserName != "" {
			arn = "arn:aws:iam::" + id.Account + ":user/" + id.UserName
		}
		if arn == "" {
			return nil
		}
		return &finding.Actor{ID: arn, Type: "IAMUser", Name: cmpOr(id.UserName, arn[strings.LastIndexByte(arn, '/')+1:])}
	case "Root":
		arn := id.ARN
		if arn == "" && id.Account != "" {
			arn = "arn:aws:iam::" + id.Account + ":root"
		}
		if arn == "" {
			return nil
		}
		return &finding.Actor{ID: arn, Type: "Root", Name: "root"}
	case "IdentityCenterUser":
		name := cmpOr(id.UserName, id.OnBehalfOf)
		if name == "" {
			return nil
		}
		return &finding.Actor{ID: "identitycenter:" + cmpOr(id.OnBehalfOf, name), Type: "IdentityCenterUser", Name: name}
	case "SAMLUser":
		if id.UserName == "" {
			return nil
		}
		return &finding.Actor{ID: "saml:" + id.Provider + ":" + id.UserName, Type: "SAMLUser", Name: id.UserName}
	case "WebIdentityUser":
		if id.UserName == "" {
			return nil
		}
		return &finding.Actor{ID: "webidentity:" + id.Provider + ":" + id.UserName, Type: "WebIdentityUser", Name: id.UserName}
	case "AWSService":
		if id.InvokedBy == "" {
			return nil
		}
		return &finding.Actor{ID: "service:" + id.InvokedBy, Type: "AWSService", Name: id.InvokedBy}
	case "AWSAccount":
		if id.Account == "" {
			return nil
		}
		return &finding.Actor{ID: "account:" + id.Account, Type: "AWSAccount", Name: "account " + id.Account}
	case "FederatedUser":
		// GetFederationToken: the session's issuer is the IAM user (or root) who asked
		switch id.IssuerType {
		case "IAMUser":
			if id.IssuerARN != "" {
				return withVia(direct(identity{Type: "IAMUser", ARN: id.IssuerARN}), id.ARN)
			}
		case "Root":
			if id.IssuerARN != "" {
				return withVia(&finding.Actor{ID: id.IssuerARN, Type: "Root", Name: "root"}, id.ARN)
			}
		}
	}
	return nil
}

func withVia(a *finding.Actor, session string) *finding.Actor {
	if session != "" {
		a.Via = []string{session}
	}
	return a
}

// sessionActor is the actor a role session names without a fact: the Identity Center user
// of an AWSReservedSSO_ role (its session is named after the user), or its source identity.
func sessionActor(id identity) *finding.Actor {
	if strings.Contains(id.ARN, ":assumed-role/AWSReservedSSO_") {
		if i := strings.LastIndexByte(id.ARN, '/'); i+1 < len(id.ARN) {
			name := id.ARN[i+1:]
			return &finding.Actor{ID: "identitycenter:" + name, Type: "IdentityCenterUser", Name: name}
		}
	}
	if id.SourceIdentity != "" {
		return &finding.Actor{ID: "sourceidentity:" + id.SourceIdentity, Type: "SourceIdentity", Name: id.SourceIdentity}
	}
	return nil
}
