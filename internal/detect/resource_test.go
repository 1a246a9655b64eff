package detect

import (
	"encoding/json"
	"strings"
	"testing"
)

// bucketPolicy is a PutBucketPolicy record in account 111122223333 with the given statements.
func bucketPolicy(statements ...string) string {
	return `{"eventName":"PutBucketPolicy","recipientAccountId":"111122223333","requestParameters":{"bucketName":"b","bucketPolicy":{"Version":"2012-10-17","Statement":[` +
		strings.Join(statements, ",") + `]}}}`
}

func TestResourcePolicyPredicates(t *testing.T) {
	const get = `"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"`
	// anyone is a policy letting `*` read the bucket under a Condition block
	anyone := func(condition string) string {
		return bucketPolicy(`{"Effect":"Allow","Principal":"*",` + get + `,"Condition":` + condition + `}`)
	}
	for _, c := range []struct {
		name, rec                 string
		public, anyone, otherAcct bool
	}{
		{"star, no condition", bucketPolicy(`{"Effect":"Allow","Principal":"*",` + get + `}`), true, true, false},
		{"AWS star list", bucketPolicy(`{"Effect":"Allow","Principal":{"AWS":["*"]},` + get + `}`), true, true, false},
		{"org condition", anyone(`{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}`), false, true, false},
		{"source ip 0.0.0.0/0", anyone(`{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}`), true, true, false},
		{"source ip ::/0 among others", anyone(`{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","::/0"]}}`), true, true, false},
		{"source ip 0.0.0.0/1 halves", anyone(`{"IpAddress":{"aws:SourceIp":["0.0.0.0/1","128.0.0.0/1"]}}`), true, true, false},
		{"office range", anyone(`{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:db8::/32"]}}`), false, true, false},
		{"single address", anyone(`{"IpAddress":{"aws:SourceIp":"203.0.113.7"}}`), false, true, false},
		{"user agent only", anyone(`{"StringLike":{"aws:UserAgent":"*Mozilla*"}}`), true, true, false},
		{"referer only, lower-case key", anyone(`{"StringEquals":{"aws:referer":"https://example.com/"}}`), true, true, false},
		{"secure transport only", anyone(`{"Bool":{"aws:SecureTransport":"true"}}`), true, true, false},
		{"org id StringLike star", anyone(`{"StringLike":{"aws:PrincipalOrgID":"*"}}`), true, true, false},
		{"org id StringLike o-*", anyone(`{"StringLike":{"aws:PrincipalOrgID":"o-*"}}`), true, true, false},
		{"principal arn of a named account with wildcard", anyone(`{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/*"}}`), false, true, false},
		{"principal arn any account", anyone(`{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/admin"}}`), true, true, false},
		{"negated org test", anyone(`{"StringNotEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}`), true, true, false},
		{"IfExists org test", anyone(`{"StringEqualsIfExists":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}`), true, true, false},
		{"ForAllValues org paths", anyone(`{"ForAllValues:StringLike":{"aws:PrincipalOrgPaths":"o-a1b2c3d4e5/*"}}`), true, true, false},
		{"ForAnyValue org paths", anyone(`{"ForAnyValue:StringLike":{"aws:PrincipalOrgPaths":"o-a1b2c3d4e5/*"}}`), false, true, false},
		{"user agent and vpce", anyone(`{"StringLike":{"aws:UserAgent":"*"},"StringEquals":{"aws:SourceVpce":"vpce-0a1b2c3d4e5f60718"}}`), false, true, false},
		{"service principals only", anyone(`{"Bool":{"aws:PrincipalIsAWSService":"true"}}`), false, true, false},
		{"not principal", bucketPolicy(`{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},` + get + `}`), true, true, false},
		{"deny star", bucketPolicy(`{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`), false, false, false},
		{"own account", bucketPolicy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/app"},` + get + `}`), false, false, false},
		{"other account root", bucketPolicy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},` + get + `}`), false, false, true},
		{"other account bare id in a list", bucketPolicy(`{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/app","444455556666"]},` + get + `}`), false, false, true},
		{"star limited to another account", anyone(`{"StringEquals":{"aws:PrincipalAccount":"999988887777"}}`), false, true, true},
		{"star limited to own account", anyone(`{"StringEquals":{"aws:SourceAccount":"111122223333"}}`), false, true, false},
		{"source arn in another account", bucketPolicy(`{"Effect":"Allow","Principal":{"Service":"logging.s3.amazonaws.com"},` + get + `,"Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::x"}}}`), false, false, false},
		{"SNS default policy of a topic whose ARN names its owner", `{"eventName":"SetTopicAttributes","recipientAccountId":"111122223333","requestParameters":{"topicArn":"arn:aws:sns:us-east-1:444455556666:t","attributeName":"Policy","attributeValue":"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"},\"Action\":\"SNS:Publish\",\"Resource\":\"arn:aws:sns:us-east-1:444455556666:t\",\"Condition\":{\"StringEquals\":{\"AWS:SourceOwner\":\"444455556666\"}}}]}"}}`, false, true, false},
		{"cloudfront identity", bucketPolicy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity E2QWRUHAPOMQZL"},` + get + `}`), false, false, false},
		{"other account denied", bucketPolicy(`{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"s3:*","Resource":"arn:aws:s3:::b/*"}`), false, false, false},
		{"kms key policy string, other account", `{"eventName":"PutKeyPolicy","recipientAccountId":"111122223333","requestParameters":{"keyId":"k","policyName":"default","policy":"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::999988887777:role/x\"},\"Action\":\"kms:Decrypt\",\"Resource\":\"*\"}]}"}}`, false, false, true},
		{"kms default key policy for a service", `{"eventName":"CreateKey","recipientAccountId":"111122223333","requestParameters":{"policy":"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"},\"Action\":[\"kms:Encrypt\",\"kms:Decrypt\"],\"Resource\":\"*\",\"Condition\":{\"StringEquals\":{\"kms:CallerAccount\":\"111122223333\",\"kms:ViaService\":\"ec2.us-east-1.amazonaws.com\"}}}]}"}}`, false, true, false},
		{"identity policy is no resource policy", `{"eventName":"PutUserPolicy","recipientAccountId":"111122223333","requestParameters":{"policyDocument":"{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}"}}`, false, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := decodeRecord(json.RawMessage(c.rec))
			if err != nil {
				t.Fatal(err)
			}
			for pred, want := range map[string]bool{"resource-policy-public": c.public, "resource-policy-conditional-public": c.anyone && !c.public, "resource-policy-other-account": c.otherAcct} {
				if got := predicates[pred].holds(r); got != want {
					t.Errorf("%s = %v, want %v", pred, got, want)
				}
			}
		})
	}
}

func TestLifecycleExpiresSoon(t *testing.T) {
	rec := func(rule string) string {
		return `{"eventName":"PutBucketLifecycle","requestParameters":{"bucketName":"trail-logs","LifecycleConfiguration":{"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/","Rule":` + rule + `}}}`
	}
	for _, c := range []struct {
		name, rec string
		want      bool
	}{
		{"one day", rec(`{"ID":"x","Status":"Enabled","Filter":{"Prefix":""},"Expiration":{"Days":1}}`), true},
		{"days as text", rec(`{"ID":"x","Status":"Enabled","Expiration":{"Days":"7"}}`), true},
		{"a year", rec(`{"ID":"x","Status":"Enabled","Expiration":{"Days":365}}`), false},
		{"disabled rule", rec(`{"ID":"x","Status":"Disabled","Expiration":{"Days":1}}`), false},
		{"old versions", rec(`{"ID":"x","Status":"Enabled","NoncurrentVersionExpiration":{"NoncurrentDays":3}}`), true},
		{"one of several", rec(`[{"ID":"a","Status":"Enabled","Transition":{"Days":30,"StorageClass":"GLACIER"}},{"ID":"b","Status":"Enabled","Expiration":{"Days":2}}]`), true},
		{"transition only", rec(`{"ID":"x","Status":"Enabled","Transition":{"Days":1,"StorageClass":"GLACIER"}}`), false},
		{"expiry by date", rec(`{"ID":"x","Status":"Enabled","Expiration":{"Date":"2027-01-01T00:00:00Z"}}`), false},
		{"no configuration", `{"eventName":"PutBucketLifecycle","requestParameters":{"bucketName":"b"}}`, false},
	} {
		r, err := decodeRecord(json.RawMessage(c.rec))
		if err != nil {
			t.Fatal(err)
		}
		if got := predicates["lifecycle-expires-soon"].holds(r); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}
