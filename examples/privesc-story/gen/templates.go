// Code in this file is data: the corpus records the story starts from (sources in ../README.md).
// They live in Go source rather than .json files so that scanning examples/privesc-story
// finds only the archive.

package main

var templates = map[string]string{
	"assume-role-denied": `{
 "awsRegion": "apiso-northsouth-3r",
 "errorCode": "AccessDenied",
 "errorMessage": "User: arn:aws:iam::457448411975:user/christophe is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::457448411975:role/stratus-red-team-ec2-get-password-data-role",
 "eventCategory": "Management",
 "eventID": "46558847-8b84-43de-8c96-302aa4744763",
 "eventName": "AssumeRole",
 "eventSource": "sts.amazonaws.com",
 "eventTime": "2024-07-30T21:31:12Z",
 "eventType": "AwsApiCall",
 "eventVersion": "1.08",
 "managementEvent": true,
 "readOnly": true,
 "recipientAccountId": "457448411975",
 "requestID": "bf47f64b-bcf2-441f-a1b8-9cbaa241ff11",
 "requestParameters": null,
 "responseElements": null,
 "sourceIPAddress": "200.249.253.51",
 "tlsDetails": {
  "cipherSuite": "TLS_AES_128_GCM_SHA256",
  "clientProvidedHostHeader": "sts.apiso-northsouth-3r.amazonaws.com",
  "tlsVersion": "TLSv1.3"
 },
 "userAgent": "stratus-red-team_5c59eb79-6dac-405c-a4c4-e19aec03c666",
 "userIdentity": {
  "accessKeyId": "AKIAWOGXN38MFN92ING5",
  "accountId": "457448411975",
  "arn": "arn:aws:iam::457448411975:user/christophe",
  "principalId": "AIDAFSHDVNSWGFKZR06G",
  "type": "IAMUser",
  "userName": "christophe"
 }
}`,
	"assume-role-service": `{
 "awsRegion": "eu-central-1",
 "eventID": "b25ff7e3-f1cf-4b7f-883d-b09168c454d5",
 "eventName": "AssumeRole",
 "eventSource": "sts.amazonaws.com",
 "eventTime": "2017-12-11T15:04:51Z",
 "eventType": "AwsApiCall",
 "eventVersion": "1.05",
 "recipientAccountId": "111111111111",
 "requestID": "7955d159-cbf6-11e7-b30f-095c9db6bcb3",
 "requestParameters": {
  "roleArn": "arn:aws:iam::111111111111:role/someRole",
  "roleSessionName": "AutoScalingDescribeHandlerSession"
 },
 "resources": [
  {
   "ARN": "arn:aws:iam::111111111111:role/someRole",
   "accountId": "111111111111",
   "type": "AWS::IAM::Role"
  }
 ],
 "responseElements": {
  "assumedRoleUser": {
   "arn": "arn:aws:sts::111111111111:assumed-role/someRoleOther/AutoScalingDescribeHandlerSession",
   "assumedRoleId": "CCCCCCCCCCCCCCCCCCCCC:AutoScalingDescribeHandlerSession"
  },
  "credentials": {
   "accessKeyId": "BBBBBBBBBBBBBBBBBBBBB",
   "expiration": "Nov 18, 2017 1:21:51 AM",
   "sessionToken": "someSessionToken"
  }
 },
 "sharedEventID": "61742ed6-324a-4133-a3ee-1ead9cd1b75c",
 "sourceIPAddress": "config.amazonaws.com",
 "userAgent": "config.amazonaws.com",
 "userIdentity": {
  "invokedBy": "config.amazonaws.com",
  "type": "AWSService"
 }
}`,
	"attach-user-policy": `{
 "awsRegion": "ap-isob-central-3r",
 "eventCategory": "Management",
 "eventID": "083dc4ad-e264-46bc-a407-d0dd31b58bdc",
 "eventName": "AttachUserPolicy",
 "eventSource": "iam.amazonaws.com",
 "eventTime": "2024-08-01T13:33:28Z",
 "eventType": "AwsApiCall",
 "eventVersion": "1.09",
 "managementEvent": true,
 "readOnly": false,
 "recipientAccountId": "229654561268",
 "requestID": "710f2703-6e8a-46d5-9924-b12a3a681755",
 "requestParameters": {
  "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
  "userName": "malicious-iam-user"
 },
 "responseElements": null,
 "sourceIPAddress": "075.050.255.67",
 "tlsDetails": {
  "cipherSuite": "TLS_AES_128_GCM_SHA256",
  "clientProvidedHostHeader": "iam.amazonaws.com",
  "tlsVersion": "TLSv1.3"
 },
 "userAgent": "stratus-red-team_6bf00313-712c-4fd2-9bdd-88f48a4b1282",
 "userIdentity": {
  "accessKeyId": "AKIAOZUDECYXYM4ONAN4",
  "accountId": "229654561268",
  "arn": "arn:aws:iam::229654561268:user/christophe",
  "principalId": "AIDAZ49AHUAJ9OEK73O5",
  "type": "IAMUser",
  "userName": "christophe"
 }
}`,
	"console-login": `{
 "additionalEventData": {
  "LoginTo": "https://console.aws.amazon.com/sns",
  "MFAUsed": "No",
  "MobileVersion": "No"
 },
 "awsRegion": "us-east-2",
 "eventID": "3fcfb182-98f8-4744-bd45-10a395ab61cb",
 "eventName": "ConsoleLogin",
 "eventSource": "signin.amazonaws.com",
 "eventTime": "2022-11-10T16:24:34Z",
 "eventType": "AwsConsoleSignIn",
 "eventVersion": "1.05",
 "requestParameters": null,
 "responseElements": {
  "ConsoleLogin": "Success"
 },
 "sourceIPAddress": "192.0.2.0",
 "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.12; rv:62.0) Gecko/20100101 Firefox/62.0",
 "userIdentity": {
  "accountId": "111122223333",
  "arn": "arn:aws:iam::111122223333:user/anaya",
  "principalId": "AIDACKCEVSQ6C2EXAMPLE",
  "type": "IAMUser",
  "userName": "anaya"
 }
}`,
	"create-access-key": `{
 "awsRegion": "ap-central-2r",
 "eventCategory": "Management",
 "eventID": "c64c4ded-ef03-4e5c-81eb-153b118d72f2",
 "eventName": "CreateAccessKey",
 "eventSource": "iam.amazonaws.com",
 "eventTime": "2024-07-30T21:53:13Z",
 "eventType": "AwsApiCall",
 "eventVersion": "1.09",
 "managementEvent": true,
 "readOnly": false,
 "recipientAccountId": "946986569305",
 "requestID": "1af58177-d743-4c94-ac1d-014721ed9b94",
 "requestParameters": {
  "userName": "stratus-red-team-backdoor-u-user"
 },
 "responseElements": {
  "accessKey": {
   "accessKeyId": "AKIAL80DWDVKKM0UXEER",
   "createDate": "Jul 30, 2024 9:53:13 PM",
   "status": "Active",
   "userName": "stratus-red-team-backdoor-u-user"
  }
 },
 "sourceIPAddress": "211.9.016.253",
 "tlsDetails": {
  "cipherSuite": "TLS_AES_128_GCM_SHA256",
  "clientProvidedHostHeader": "iam.amazonaws.com",
  "tlsVersion": "TLSv1.3"
 },
 "userAgent": "stratus-red-team_f3f19dcd-8552-47ca-a01e-0e1f5578d15e",
 "userIdentity": {
  "accessKeyId": "AKIA30BEZSJBVKOFKZW0",
  "accountId": "946986569305",
  "arn": "arn:aws:iam::946986569305:user/christophe",
  "principalId": "AIDAKYRO1QIPZ5M62HCS",
  "type": "IAMUser",
  "userName": "christophe"
 }
}`,
	"create-login-profile": `{
 "awsRegion": "ap-central-2r",
 "eventCategory": "Management",
 "eventID": "d3906a7d-604b-407f-acb6-fc425742821e",
 "eventName": "CreateLoginProfile",
 "eventSource": "iam.amazonaws.com",
 "eventTime": "2024-08-01T13:42:21Z",
 "eventType": "AwsApiCall",
 "eventVersion": "1.09",
 "managementEvent": true,
 "readOnly": false,
 "recipientAccountId": "070411556318",
 "requestID": "cb603f7a-02cc-4123-9855-658655364408",
 "requestParameters": {
  "passwordResetRequired": false,
  "userName": "stratus-red-team-login-profile-user"
 },
 "responseElements": {
  "loginProfile": {
   "createDate": "Aug 1, 2024 1:42:21 PM",
   "passwordResetRequired": false,
   "userName": "stratus-red-team-login-profile-user"
  }
 },
 "sourceIPAddress": "253.234.5.234",
 "tlsDetails": {
  "cipherSuite": "TLS_AES_128_GCM_SHA256",
  "clientProvidedHostHeader": "iam.amazonaws.com",
  "tlsVersion": "TLSv1.3"
 },
 "userAgent": "stratus-red-team_99dfa7e5-00d3-40b7-8cfd-b2573ada0eac",
 "userIdentity": {
  "accessKeyId": "AKIAE18PGYHCY2CYMTFK",
  "accountId": "070411556318",
  "arn": "arn:aws:iam::070411556318:user/christophe",
  "principalId": "AIDAWVCXQ27A1H7FID62",
  "type": "IAMUser",
  "userName": "christophe"
 }
}`,
	"create-policy-version": `{
 "awsRegion": "us-east-1",
 "eventCategory": "Management",
 "eventID": "",
 "eventName": "CreatePolicyVersion",
 "eventSource": "iam.amazonaws.com",
 "eventTime": "2026-11-20T09:11:00Z",
 "eventType": "AwsApiCall",
 "eventVersion": "1.09",
 "managementEvent": true,
 "readOnly": false,
 "recipientAccountId": "",
 "requestID": "",
 "requestParameters": {
  "policyArn": "",
  "policyDocument": "",
  "setAsDefault": true
 },
 "responseElements": {
  "policyVersion": {
   "createDate": "Nov 20, 2026 9:11:00 AM",
   "isDefaultVersion": true,
   "versionId": "v2"
  }
 },
 "sourceIPAddress": "",
 "tlsDetails": {
  "cipherSuite": "TLS_AES_128_GCM_SHA256",
  "clientProvidedHostHeader": "iam.amazonaws.com",
  "tlsVersion": "TLSv1.3"
 },
 "userAgent": "",
 "userIdentity": {}
}`,
	"create-user": `{
 "awsRegion": "ap-isob-central-3r",
 "eventCategory": "Management",
 "eventID": "3346344c-5a3e-429e-8405-420f98f75d6e",
 "eventName": "CreateUser",
 "eventSource": "iam.amazonaws.com",
 "eventTime": "2024-08-01T13:33:28Z",
 "eventType": "AwsApiCall",
 "eventVersion": "1.09",
 "managementEvent": true,
 "readOnly": false,
 "recipientAccountId": "229654561268",
 "requestID": "64ef9c47-6b64-4c0e-8c32-eb9ffaf8a658",
 "requestParameters": {
  "tags": [
   {
    "key": "StratusRedTeam",
    "value": "true"
   }
  ],
  "userName": "malicious-iam-user"
 },
 "responseElements": {
  "user": {
   "arn": "arn:aws:iam::229654561268:user/malicious-iam-user",
   "createDate": "Aug 1, 2024 1:33:28 PM",
   "path": "/",
   "tags": [
    {
     "key": "StratusRedTeam",
     "value": "true"
    }
   ],
   "userId": "AIDAL1XMLVWIUOK8KAF0",
   "userName": "malicious-iam-user"
  }
 },
 "sourceIPAddress": "075.050.255.67",
 "tlsDetails": {
  "cipherSuite": "TLS_AES_128_GCM_SHA256",
  "clientProvidedHostHeader": "iam.amazonaws.com",
  "tlsVersion": "TLSv1.3"
 },
 "userAgent": "stratus-red-team_6bf00313-712c-4fd2-9bdd-88f48a4b1282",
 "userIdentity": {
  "accessKeyId": "AKIAOZUDECYXYM4ONAN4",
  "accountId": "229654561268",
  "arn": "arn:aws:iam::229654561268:user/christophe",
  "principalId": "AIDAZ49AHUAJ9OEK73O5",
  "type": "IAMUser",
  "userName": "christophe"
 }
}`,
	"describe-instances": `{
 "@timestamp": "2020-09-14T00:44:24.000Z",
 "@version": "1",
 "awsRegion": "us-east-1",
 "eventID": "a3d34faf-076e-44ff-b2f7-605d76705a81",
 "eventName": "DescribeInstances",
 "eventSource": "ec2.amazonaws.com",
 "eventType": "AwsApiCall",
 "eventVersion": "1.05",
 "recipientAccountId": "123456789123",
 "requestID": "2b757038-7f45-4e5b-b38d-b83a3acb7eab",
 "requestParameters": {
  "filterSet": {},
  "instancesSet": {
   "items": [
    {
     "instanceId": "i-044b1baf4c96e1b62"
    }
   ]
  }
 },
 "responseElements": null,
 "sourceIPAddress": "1.2.3.4",
 "userAgent": "console.ec2.amazonaws.com",
 "userIdentity": {
  "accessKeyId": "ASIA5FLZVX4OI4ZDQJOL",
  "accountId": "123456789123",
  "arn": "arn:aws:iam::123456789123:user/pedro",
  "principalId": "AIDAICAK2CN5MGHIIDIHA",
  "sessionContext": {
   "attributes": {
    "creationDate": "2020-09-13T17:16:47Z",
    "mfaAuthenticated": "true"
   },
   "sessionIssuer": {},
   "webIdFederationData": {}
  },
  "type": "IAMUser",
  "userName": "pedro"
 }
}`,
	"get-caller-identity": `{
 "awsRegion": "ap-central-2r",
 "eventCategory": "Management",
 "eventID": "e544d47e-6d75-45cf-a8a9-7e90d5f7d38d",
 "eventName": "GetCallerIdentity",
 "eventSource": "sts.amazonaws.com",
 "eventTime": "2024-08-01T13:42:21Z",
 "eventType": "AwsApiCall",
 "eventVersion": "1.08",
 "managementEvent": true,
 "readOnly": true,
 "recipientAccountId": "070411556318",
 "requestID": "8a4782c5-408f-4ff4-be0b-6e10202f385f",
 "requestParameters": null,
 "responseElements": null,
 "sourceIPAddress": "253.234.5.234",
 "tlsDetails": {
  "cipherSuite": "TLS_AES_128_GCM_SHA256",
  "clientProvidedHostHeader": "sts.ap-central-2r.amazonaws.com",
  "tlsVersion": "TLSv1.3"
 },
 "userAgent": "stratus-red-team_99dfa7e5-00d3-40b7-8cfd-b2573ada0eac",
 "userIdentity": {
  "accessKeyId": "AKIAE18PGYHCY2CYMTFK",
  "accountId": "070411556318",
  "arn": "arn:aws:iam::070411556318:user/christophe",
  "principalId": "AIDAWVCXQ27A1H7FID62",
  "type": "IAMUser",
  "userName": "christophe"
 }
}`,
	"kms-decrypt": `{
 "awsRegion": "us-east-1",
 "eventID": "edb65380-0a3e-4123-bbc8-3d1b7cff49b0",
 "eventName": "Decrypt",
 "eventSource": "kms.amazonaws.com",
 "eventTime": "2014-11-05T21:35:47Z",
 "eventType": "AwsApiCall",
 "eventVersion": "1.02",
 "readOnly": true,
 "recipientAccountId": "111122223333",
 "requestID": "b4b27883-6533-11e4-b4d9-751f1761e9e5",
 "requestParameters": {
  "encryptionContext": {
   "aws:ebs:id": "vol-f67bafb2"
  }
 },
 "resources": [
  {
   "ARN": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
   "accountId": "111122223333"
  }
 ],
 "responseElements": null,
 "sourceIPAddress": "192.0.2.0",
 "userIdentity": {
  "accessKeyId": "",
  "accountId": "111122223333",
  "arn": "arn:aws:sts::111122223333:assumed-role/aws:ec2-infrastructure/i-81e2f56c",
  "principalId": "111122223333:aws:ec2-infrastructure:i-81e2f56c",
  "sessionContext": {
   "attributes": {
    "creationDate": "2014-11-05T21:35:38Z",
    "mfaAuthenticated": "false"
   },
   "sessionIssuer": {
    "accountId": "111122223333",
    "arn": "arn:aws:iam::111122223333:role/aws:ec2-infrastructure",
    "principalId": "111122223333:aws:ec2-infrastructure",
    "type": "Role",
    "userName": "aws:ec2-infrastructure"
   }
  },
  "type": "AssumedRole"
 }
}`,
	"list-buckets": `{
 "@timestamp": "2020-09-14T01:01:50.000Z",
 "@version": "1",
 "additionalEventData": {
  "AuthenticationMethod": "AuthHeader",
  "CipherSuite": "ECDHE-RSA-AES128-GCM-SHA256",
  "SignatureVersion": "SigV4",
  "x-amz-id-2": "kYiD7zKnS/MdFmNlhWneMJr7EOTZev+JvUOTM34Ho5YVRcTX4gg/C8hhd9hjHV65aB1Zw6GNB9U="
 },
 "awsRegion": "us-east-1",
 "eventID": "19d32cc1-edab-4b96-9a11-2cd7794b2527",
 "eventName": "ListBuckets",
 "eventSource": "s3.amazonaws.com",
 "eventType": "AwsApiCall",
 "eventVersion": "1.05",
 "readOnly": true,
 "recipientAccountId": "123456789123",
 "requestID": "1225044172D8D65D",
 "requestParameters": {
  "Host": "s3.amazonaws.com"
 },
 "responseElements": null,
 "sourceIPAddress": "1.2.3.4",
 "userAgent": "[aws-cli/1.18.136 Python/3.8.5 Darwin/19.5.0 botocore/1.17.59]",
 "userIdentity": {
  "accessKeyId": "ASIA5FLZVX4OPVKKVBMX",
  "accountId": "123456789123",
  "arn": "arn:aws:sts::123456789123:assumed-role/MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0/i-0317f6c6b66ae9c40",
  "principalId": "AROA5FLZVX4OAMSW6BCRH:i-0317f6c6b66ae9c40",
  "sessionContext": {
   "attributes": {
    "creationDate": "2020-09-14T00:48:30Z",
    "mfaAuthenticated": "false"
   },
   "ec2RoleDelivery": "1.0",
   "sessionIssuer": {
    "accountId": "123456789123",
    "arn": "arn:aws:iam::123456789123:role/MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0",
    "principalId": "AROA5FLZVX4OAMSW6BCRH",
    "type": "Role",
    "userName": "MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0"
   },
   "webIdFederationData": {}
  },
  "type": "AssumedRole"
 }
}`,
	"stop-logging": `{
 "awsRegion": "apiso-centralnorth-2r",
 "eventCategory": "Management",
 "eventID": "10163ed2-2253-469d-a5ee-cbc6651f8934",
 "eventName": "StopLogging",
 "eventSource": "cloudtrail.amazonaws.com",
 "eventTime": "2024-07-31T13:06:24Z",
 "eventType": "AwsApiCall",
 "eventVersion": "1.10",
 "managementEvent": true,
 "readOnly": false,
 "recipientAccountId": "143434273843",
 "requestID": "14c891b6-11b5-4787-ae97-64a974977078",
 "requestParameters": {
  "name": "stratus-red-team-ct-stop-trail-buykxbqejv"
 },
 "responseElements": null,
 "sourceIPAddress": "86.245.153.234",
 "tlsDetails": {
  "cipherSuite": "TLS_AES_128_GCM_SHA256",
  "clientProvidedHostHeader": "cloudtrail.apiso-centralnorth-2r.amazonaws.com",
  "tlsVersion": "TLSv1.3"
 },
 "userAgent": "stratus-red-team_c97089f1-1ae3-4ecc-b006-f5e8fd0f2571",
 "userIdentity": {
  "accessKeyId": "AKIAGGWFBBHBE7D3M9WI",
  "accountId": "143434273843",
  "arn": "arn:aws:iam::143434273843:user/christophe",
  "principalId": "AIDAOC1SYDVN0AF0FMMR",
  "type": "IAMUser",
  "userName": "christophe"
 }
}`,
}
