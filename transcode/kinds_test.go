package transcode

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// kindCases are JSON inputs for transcode.test.All, each checked against protojson in both
// directions. Accepted and rejected inputs are mixed: what matters is agreeing with protojson.
var kindCases = []struct{ name, json string }{
	{"empty", `{}`},
	{"whitespace", " \t\r\n{ \"fInt32\" : 1 , \"fBool\"\n:\ttrue } \n"},
	{"proto names", `{"f_int32": 1, "f_string": "s", "r_int64": [1], "m_string": {"a": "b"}}`},
	{"custom json name", `{"renamed": "x"}`},
	{"custom name by proto name", `{"custom": "x"}`},

	// Numbers.
	{"int32", `{"fInt32": -2147483648, "fSint32": 2147483647, "fSfixed32": -1}`},
	{"int32 overflow", `{"fInt32": 2147483648}`},
	{"int32 underflow", `{"fInt32": -2147483649}`},
	{"int32 as string", `{"fInt32": "12"}`},
	{"int32 exponent", `{"fInt32": 1.5e1}`},
	{"int32 fraction", `{"fInt32": 1.5}`},
	{"int32 negative exponent", `{"fInt32": 100e-2}`},
	{"int32 bad negative exponent", `{"fInt32": 15e-1}`},
	{"int32 trailing e", `{"fInt32": 1e}`},
	{"int32 trailing e plus", `{"fInt32": 1e+}`},
	{"int32 zero trailing e plus", `{"fUint32": 0e+}`},
	{"int32 zero trailing e minus", `{"fInt32": -0.0E-}`},
	{"int32 zero trailing e", `{"fInt32": 0e}`},
	{"int32 minus zero", `{"fInt32": -0}`},
	{"int32 zero fraction", `{"fInt32": 0.0}`},
	{"int32 leading zero", `{"fInt32": 01}`},
	{"int32 plus", `{"fInt32": +1}`},
	{"int32 huge exponent", `{"fInt32": 1e99999999999}`},
	{"int32 zero huge exponent", `{"fInt32": 0e99999999999}`},
	{"int32 string spaces", `{"fInt32": " 1"}`},
	{"int32 string trailing", `{"fInt32": "1 "}`},
	{"int32 string exponent", `{"fInt32": "1e2"}`},
	{"int32 string escaped", `{"fInt32": "\u0031"}`},
	{"int32 empty string", `{"fInt32": ""}`},
	{"int32 bool", `{"fInt32": true}`},
	{"int64", `{"fInt64": "-9223372036854775808", "fSint64": 9223372036854775807, "fSfixed64": "-1"}`},
	{"int64 overflow", `{"fInt64": "9223372036854775808"}`},
	{"int64 as float", `{"fInt64": 9.2e18}`},
	{"uint32", `{"fUint32": 4294967295, "fFixed32": "4294967295"}`},
	{"uint32 overflow", `{"fUint32": 4294967296}`},
	{"uint32 negative", `{"fUint32": -1}`},
	{"uint32 negative zero", `{"fUint32": -0.0e5}`},
	{"uint64", `{"fUint64": "18446744073709551615", "fFixed64": 18446744073709551615}`},
	{"uint64 overflow", `{"fUint64": "18446744073709551616"}`},
	{"uint64 21 digits", `{"fUint64": 100000000000000000000}`},
	{"uint64 exponent", `{"fUint64": 1e19}`},
	{"double", `{"fDouble": 1.5, "fFloat": -0.25}`},
	{"double strings", `{"fDouble": "NaN", "fFloat": "Infinity", "rDouble": ["-Infinity", "1e3", 2]}`},
	{"double exponent", `{"fDouble": 1E-7, "fFloat": 3.4e38}`},
	{"float overflow", `{"fFloat": 3.5e38}`},
	{"double overflow", `{"fDouble": 1e309}`},
	{"double negative zero", `{"fDouble": -0, "fFloat": -0.0}`},
	{"double tiny", `{"fDouble": 5e-324, "fFloat": 1e-45}`},
	{"double nan lowercase", `{"fDouble": "nan"}`},
	{"double string spaces", `{"fDouble": "1.5 "}`},
	{"double trailing e", `{"fDouble": 1e}`},
	{"double hex", `{"fDouble": "0x10"}`},
	{"double big values", `{"rDouble": [1e21, 1e20, 123456789.125, 1e-6, 9.99e-7, 0.1, 100]}`},
	{"float big values", `{"rFloat": [1e21, 1e20, 16777216, 0.1, 1e-6, 9.99e-7, 3.4028235e38]}`},

	// Bools, strings, bytes, enums.
	{"bool", `{"fBool": true, "rBool": [true, false]}`},
	{"bool string", `{"fBool": "true"}`},
	{"bool number", `{"fBool": 1}`},
	{"bool truex", `{"fBool": truex}`},
	{"string escapes", `{"fString": "a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00\u0000"}`},
	{"string utf8", `{"fString": "héllo, 世界 😀"}`},
	{"string invalid utf8", "{\"fString\": \"a\xffb\"}"},
	{"string lone surrogate", `{"fString": "\ud800"}`},
	{"string lone low surrogate", `{"fString": "\udc00\udc00"}`},
	{"string bad surrogate pair", `{"fString": "\ud800\u0041"}`},
	{"string bad escape", `{"fString": "\x"}`},
	{"string bad unicode escape", `{"fString": "\u12g4"}`},
	{"string control char", "{\"fString\": \"a\tb\"}"},
	{"string del", "{\"fString\": \"a\x7fb\"}"},
	{"string replacement char", `{"fString": "\ufffd�"}`},
	{"string number", `{"fString": 1}`},
	{"string unterminated", `{"fString": "abc`},
	{"bytes", `{"fBytes": "aGVsbG8=", "rBytes": ["", "AA==", "AAA", "-_-_", "_w=="]}`},
	{"bytes unpadded", `{"fBytes": "aGVsbG8"}`},
	{"bytes url", `{"fBytes": "-_8="}`},
	{"bytes invalid", `{"fBytes": "a"}`},
	{"bytes bad char", `{"fBytes": "aG!s"}`},
	{"bytes newline", `{"fBytes": "aGVs\nbG8="}`},
	{"bytes escaped", `{"fBytes": "\u0061GVsbG8="}`},
	{"bytes mixed alphabets", `{"fBytes": "+/-_"}`},
	{"bytes empty", `{"fBytes": ""}`},
	{"bytes non-zero padding bits", `{"fBytes": "AB=="}`},
	{"enum", `{"fEnum": "KIND_A", "rEnum": ["KIND_B", 1, 0, -1, 99, "KIND_NEG"]}`},
	{"enum unknown name", `{"fEnum": "KIND_C"}`},
	{"enum number", `{"fEnum": 2}`},
	{"enum unknown number", `{"fEnum": 12345}`},
	{"enum out of range", `{"fEnum": 2147483648}`},
	{"enum number string", `{"fEnum": "1"}`},
	{"enum exponent", `{"fEnum": 1e1}`},
	{"enum bool", `{"fEnum": true}`},

	// Null, duplicates, unknown fields, oneofs.
	{"null scalars", `{"fInt32": null, "fString": null, "fEnum": null, "nested": null, "rInt32": null, "mString": null, "ts": null, "wInt32": null}`},
	{"null then value", `{"fInt32": null, "fInt32": 1}`},
	{"duplicate", `{"fInt32": 1, "fInt32": 2}`},
	{"duplicate by both names", `{"fInt32": 1, "f_int32": 2}`},
	{"duplicate null", `{"fInt32": null, "f_int32": null}`},
	{"unknown field", `{"nope": 1}`},
	{"unknown null field", `{"nope": null}`},
	{"extension key", `{"[transcode.test.ext]": 1}`},
	{"oneof", `{"oString": "x"}`},
	{"oneof message", `{"oMsg": {"fInt32": 1}}`},
	{"oneof empty message", `{"oMsg": {}}`},
	{"oneof zero", `{"oInt64": 0}`},
	{"oneof zero string", `{"oString": ""}`},
	{"oneof enum zero", `{"oEnum": "KIND_UNSPECIFIED"}`},
	{"oneof two", `{"oString": "x", "oInt64": 1}`},
	{"oneof null and one", `{"oString": null, "oInt64": 1}`},
	{"oneof null value", `{"oNull": null}`},
	{"oneof null value and one", `{"oNull": null, "oInt64": 1}`},
	{"oneof value null", `{"oValue": null}`},
	{"oneof value null and one", `{"oValue": null, "oString": "a"}`},
	{"two oneofs", `{"oString": "x", "pBool": false}`},
	{"oneof bytes empty", `{"pBytes": ""}`},
	{"optional zero", `{"optInt32": 0, "optString": "", "optEnum": "KIND_UNSPECIFIED", "optDouble": 0, "optMsg": {}}`},
	{"optional null", `{"optInt32": null}`},

	// Nesting, lists, maps.
	{"nested", `{"nested": {"fInt64": "5", "fString": "x"}, "recursive": {"recursive": {"fInt32": 3}}}`},
	{"nested empty", `{"nested": {}}`},
	{"nested not object", `{"nested": []}`},
	{"nested string", `{"nested": "x"}`},
	{"lists", `{"rInt32": [1, -1, "2"], "rSint64": ["-5"], "rFixed32": [7], "rSfixed64": [-7], "rString": ["a", ""], "rUnpacked": [1, 0, -2]}`},
	{"lists every kind", `{"rDouble":[1],"rFloat":[1],"rInt32":[1],"rInt64":[1],"rUint32":[1],"rUint64":[1],"rSint32":[-1],"rSint64":[-1],"rFixed32":[1],"rFixed64":[1],"rSfixed32":[-1],"rSfixed64":[-1],"rBool":[true],"rString":["x"],"rBytes":["eA=="],"rEnum":["KIND_A"],"rNested":[{},{"fInt32":1}]}`},
	{"list empty", `{"rInt32": [], "rString": [], "rNested": []}`},
	{"list zeros", `{"rInt32": [0, 0], "rString": ["", ""], "rNested": [{}, {}], "rDouble": [0, -0]}`},
	{"list null element", `{"rInt32": [null]}`},
	{"list null message element", `{"rNested": [null]}`},
	{"list trailing comma", `{"rInt32": [1,]}`},
	{"list missing comma", `{"rInt32": [1 2]}`},
	{"list not array", `{"rInt32": 1}`},
	{"list of lists", `{"rInt32": [[1]]}`},
	{"long list", `{"rInt64": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,85,86,87,88,89,90,91,92,93,94,95,96,97,98,99,100,101,102,103,104,105,106,107,108,109,110,111,112,113,114,115,116,117,118,119,120,121,122,123,124,125,126,127,128,129,130]}`},
	{"long string", `{"fString": "` + longString + `", "nested": {"fString": "` + longString + `"}}`},
	{"maps", `{"mString": {"b": "2", "a": "1", "": ""}, "mInt32": {"-1": "5", "2": 6}, "mInt64": {"9223372036854775807": "KIND_A"}, "mUint32": {"4294967295": "AQ=="}}`},
	{"maps every key kind", `{"mUint64":{"1":1.5},"mSint32":{"-2":2},"mSint64":{"-3":true},"mFixed32":{"4":4},"mFixed64":{"5":"5"},"mSfixed32":{"-6":-6},"mSfixed64":{"-7":{"fInt32":7}},"mBool":{"true":"t","false":"f"},"mMsg":{"k":{"fString":"v"}}}`},
	{"map key plus", `{"mInt32": {"+1": 1}}`},
	{"map key leading zero", `{"mInt32": {"01": 1}}`},
	{"map key duplicate after conversion", `{"mInt32": {"1": 1, "01": 2}}`},
	{"map key duplicate", `{"mString": {"a": "1", "a": "2"}}`},
	{"map key duplicate escaped", `{"mString": {"a": "1", "\u0061": "2"}}`},
	{"map key uint plus", `{"mUint32": {"+1": ""}}`},
	{"map key uint negative", `{"mUint64": {"-1": 1}}`},
	{"map key int32 overflow", `{"mInt32": {"2147483648": 1}}`},
	{"map key bool bad", `{"mBool": {"True": "x"}}`},
	{"map key spaces", `{"mInt32": {" 1": 1}}`},
	{"map key exponent", `{"mInt32": {"1e2": 1}}`},
	{"map key empty int", `{"mInt32": {"": 1}}`},
	{"map null value", `{"mString": {"a": null}}`},
	{"map null message value", `{"mMsg": {"a": null}}`},
	{"map empty message value", `{"mMsg": {"a": {}}}`},
	{"map zero values", `{"mString": {"a": ""}, "mInt32": {"0": 0}, "mBool": {"false": ""}}`},
	{"map not object", `{"mString": []}`},
	{"map of many", manyKeys},
	{"map of many duplicate", manyKeys[:len(manyKeys)-2] + `,"k0":"x"}}`},
	{"map of many int", manyIntKeys},
	{"map of many int duplicate", manyIntKeys[:len(manyIntKeys)-2] + `,"0":1}}`},

	// Syntax.
	{"not object", `[]`},
	{"top null", `null`},
	{"empty input", ``},
	{"trailing data", `{} {}`},
	{"trailing comma", `{"fInt32": 1,}`},
	{"missing colon", `{"fInt32" 1}`},
	{"missing value", `{"fInt32":}`},
	{"unclosed", `{"fInt32": 1`},
	{"single quotes", `{'fInt32': 1}`},
	{"comment", `{/**/}`},
	{"key not string", `{fInt32: 1}`},
	{"escaped key", `{"f\u0049nt32": 1}`},
	{"invalid utf8 key", "{\"f\xff\": 1}"},
	{"bom", "\ufeff{}"},
	{"nul after", "{}\x00"},
	{"form feed space", "{\f}"},

	// Well-known types.
	{"timestamp", `{"ts": "2024-02-29T12:34:56.789Z", "rTs": ["1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z"]}`},
	{"timestamp offset", `{"ts": "2024-02-29T12:34:56+02:00"}`},
	{"timestamp lower t", `{"ts": "2024-02-29t12:34:56z"}`},
	{"timestamp no zone", `{"ts": "2024-02-29T12:34:56"}`},
	{"timestamp 10 digits", `{"ts": "2024-02-29T12:34:56.1234567890Z"}`},
	{"timestamp out of range", `{"ts": "0000-12-31T23:59:59Z"}`},
	{"timestamp offset out of range", `{"ts": "0001-01-01T00:00:00+01:00"}`},
	{"timestamp number", `{"ts": 0}`},
	{"timestamp comma fraction", `{"ts": "2024-02-29T12:34:56,5Z"}`},
	{"timestamp zero", `{"ts": "1970-01-01T00:00:00Z"}`},
	{"duration", `{"dur": "1.5s", "mDur": {"a": "-0.000000001s", "b": "315576000000s", "c": "0s", "d": ".5s", "e": "1.s", "f": "+3s"}}`},
	{"duration out of range", `{"dur": "315576000001s"}`},
	{"duration no s", `{"dur": "1"}`},
	{"duration 10 digits", `{"dur": "1.0000000001s"}`},
	{"duration dot s", `{"dur": ".s"}`},
	{"duration minus s", `{"dur": "-s"}`},
	{"duration leading zero", `{"dur": "01s"}`},
	{"duration huge", `{"dur": "99999999999999999999s"}`},
	{"duration number", `{"dur": 1}`},
	{"duration exponent", `{"dur": "1e3s"}`},
	{"wrappers", `{"wDouble": 1.5, "wFloat": "NaN", "wInt64": "-5", "wUint64": 5, "wInt32": 0, "wUint32": 7, "wBool": false, "wString": "", "wBytes": "AQ=="}`},
	{"wrapper object", `{"wInt32": {"value": 1}}`},
	{"wrappers list", `{"rWrap": [1, 0, "3"]}`},
	{"wrappers list null", `{"rWrap": [null]}`},
	{"struct", `{"st": {"a": 1, "b": "x", "c": true, "d": null, "e": [1, "2", null, {"f": []}], "g": {}}}`},
	{"struct duplicate", `{"st": {"a": 1, "a": 2}}`},
	{"struct not object", `{"st": []}`},
	{"struct number nan", `{"st": {"a": "NaN"}}`},
	{"value", `{"val": {"a": [1.5e300, -0, false]}}`},
	{"value null", `{"val": null}`},
	{"value number", `{"val": 12}`},
	{"value string", `{"val": "Infinity"}`},
	{"value list", `{"val": []}`},
	{"value number overflow", `{"val": 1e400}`},
	{"value trailing e", `{"val": 1e}`},
	{"values list", `{"rVal": [null, 1, "a", {}, [], true]}`},
	{"values list null", `{"rVal": null}`},
	{"values map", `{"mVal": {"a": null, "b": {"c": [null]}}}`},
	{"list value", `{"lv": [1, [2, [3]], {"x": null}]}`},
	{"list value null", `{"lv": null}`},
	{"list value not array", `{"lv": {}}`},
	{"null value field", `{"null": null}`},
	{"null value field zero", `{"null": 0}`},
	{"null value field name", `{"null": "NULL_VALUE"}`},
	{"null value list", `{"rNull": [null, 0, "NULL_VALUE"]}`},
	{"null value list null", `{"rNull": null}`},
	{"field mask", `{"fm": "a,bC.dE,f1"}`},
	{"field mask spaces", `{"fm": " a,b "}`},
	{"field mask empty", `{"fm": ""}`},
	{"field mask empty path", `{"fm": "a,,b"}`},
	{"field mask underscore", `{"fm": "a_b"}`},
	{"field mask bad", `{"fm": "1a"}`},
	{"field mask unicode", `{"fm": "é"}`},
	{"field mask leading upper", `{"fm": "Ab"}`},
	{"empty wkt", `{"empty": {}}`},
	{"empty wkt field", `{"empty": {"a": 1}}`},
	{"empty wkt null", `{"empty": null}`},
}

var (
	longString  = string(make([]byte, 0)) + repeat("0123456789abcdef", 40)
	manyKeys    = `{"mString": {` + keys(40, `"k%d":"v"`) + `}}`
	manyIntKeys = `{"mInt32": {` + keys(40, `"%d":1`) + `}}`
)

func TestKindsMatchProtojson(t *testing.T) {
	md := testMessage(t, "transcode.test.All")
	for _, tc := range kindCases {
		t.Run(tc.name, func(t *testing.T) { checkRoundTrip(t, md, tc.json) })
	}
}

func TestJSONNameWinsOverProtoName(t *testing.T) {
	md := testMessage(t, "transcode.test.Clash")
	p := plan(t, md)
	for _, in := range []string{`{"f_bool": "x"}`, `{"fBool": true, "f_bool": "x"}`, `{"clash": "x"}`, `{"f_bool": true}`} {
		checkWire(t, p, md, []byte(in))
	}
	checkJSON(t, p, md, []byte{0x08, 0x01, 0x12, 0x01, 'x'}, Options{})
}

func TestProto2MatchesProtojson(t *testing.T) {
	md := testMessage(t, "transcode.test2.P2")
	for _, in := range []string{
		`{}`,
		`{"i": 0, "s": "", "c": "C_ZERO", "b": "", "d": 0}`,
		`{"i": 5, "s": "x", "c": "C_ONE", "r": [1, 2], "rp": [3, 0], "child": {"i": 1}, "m": {"a": 0}}`,
		`{"c": 7}`,
		`{"oi": 0}`,
		`{"os": ""}`,
		`{"oi": 1, "os": "x"}`,
		`{"rs": ["a", ""]}`,
	} {
		checkRoundTrip(t, md, in)
	}
}

func TestEditionsMatchesProtojson(t *testing.T) {
	md := testMessage(t, "transcode.ed.Ed")
	for _, in := range []string{
		`{}`,
		`{"implicit": 0, "explicit": 0, "expanded": [1, 0], "packed": [2, 0], "unchecked": "", "closed": "C_ZERO"}`,
		`{"implicit": 1, "explicit": 2, "unchecked": "u", "checked": "c", "closed": 5, "child": {"explicit": 0}, "uncheckedMap": {"k": "v"}}`,
	} {
		checkRoundTrip(t, md, in)
	}
	p := plan(t, md)
	for _, in := range []w{
		w{}.str(5, "\xff"),
		w{}.str(5, "\xff").str(5, "ok"),
		w{}.str(6, "\xff").str(6, "ok"),
		w{}.bytes(9, w{}.str(1, "\xff").str(2, "v")),
		w{}.bytes(9, w{}.str(1, "k").str(2, "\xff")).bytes(9, w{}.str(1, "k").str(2, "v")),
		w{}.varint(3, 1).bytes(3, w{}.raw(2, 3)).varint(4, 4),
		w{}.varint(7, 9),
	} {
		for _, o := range allOptions {
			checkJSON(t, p, md, in, o)
		}
	}
}

func TestSparseMatchesProtojson(t *testing.T) {
	md := testMessage(t, "transcode.test.Sparse")
	for _, in := range []string{`{}`, `{"a": 1, "z": "x", "child": {"z": "y", "child": {}}}`, `{"b": 1}`} {
		checkRoundTrip(t, md, in)
	}
}

func TestGeneratedMessagesMatchProtojson(t *testing.T) {
	inputs := map[protoreflect.FullName][]string{
		"testsvc.v1.EchoRequest": {
			echoRequestJSON,
			`{"name": "x", "color": "COLOR_GREEN", "at": "2024-01-01T00:00:00Z", "snake_case_field": "s"}`,
			`{"big": "9223372036854775807", "unsigned": "18446744073709551615", "ratio": "NaN"}`,
			`{"items": [{"id": 1}, {"id": "x"}]}`,
		},
		"testsvc.v1.EchoResponse":      {echoResponseJSON},
		"order.ListOrdersResponse":     {ordersJSON},
		"order.OrderRequest":           {`{"id": "42"}`, `{"id": 42}`, `{"id": 4.2}`},
		"user.AccountResponse":         {`{"id": "1", "username": "alice", "address": "x", "phone": "y"}`},
		"testsvc.v1.FailRequest":       {`{"code": "NOT_FOUND", "badRequestDetail": true}`},
		"testsvc.v1.SetHeadersRequest": {`{"header": {"a": "b"}, "trailer": {}}`},
	}
	for _, md := range generatedMessages() {
		t.Run(string(md.FullName()), func(t *testing.T) {
			checkRoundTrip(t, md, `{}`)
			for _, in := range inputs[md.FullName()] {
				checkRoundTrip(t, md, in)
			}
		})
	}
}
