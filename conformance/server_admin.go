package conformance

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/syncprint/syncprint/protocol"
)

// Admin tokens (section 11), with the optional --admin-token.

func (t *T) issueToken(user, device string) protocol.TokenResponse {
	var tr protocol.TokenResponse
	t.OK(t.Post(Admin, protocol.PathAdminTokens, protocol.TokenRequest{User: user, Device: device}), &tr)
	return tr
}

func init() {
	serverCase(Case{
		ID: "server/admin/issues-tokens", Level: MUST,
		Reqs:  []string{"SP-11-2", "SP-11-3", "SP-3-7", "SP-3-6"},
		Needs: []string{"--admin-token", "feature:admin-tokens"},
		Desc:  "the admin endpoint issues working tokens; every call a new one, earlier ones stay valid",
		Procedure: `
			With the admin token: POST /v1/admin/tokens {user: a fresh name, device: "d1"} twice
			and once with device "d2". Assert: each answer echoes user and device and carries a
			new token of the form sp_ + 43 base64url characters; all three work at /v1/info
			(user = the name; replica name/d1, name/d1, name/d2) and at /v1/collections.`,
	}, func(t *T) {
		t.Need(Admin)
		t.NeedFeature(protocol.FeatureAdmin)
		user := "cf-" + RandomName(10)
		form := regexp.MustCompile(`^sp_[A-Za-z0-9_-]{43}$`)
		var toks []string
		for _, dev := range []string{"d1", "d1", "d2"} {
			tr := t.issueToken(user, dev)
			t.Check(tr.User == user && tr.Device == dev, "user and device echoed", "%q/%q", tr.User, tr.Device)
			t.Check(form.MatchString(tr.Token), "a token of SP-3-7", "%d characters", len(tr.Token))
			for _, prev := range toks {
				t.Check(prev != tr.Token, "a new token every call [SP-11-3]", "the same token twice")
			}
			toks = append(toks, tr.Token)
		}
		for i, tok := range toks {
			r := t.Do(Request{Method: http.MethodGet, Path: protocol.PathInfo, Auth: "Bearer " + tok})
			var info protocol.Info
			t.OK(r, &info)
			want := user + "/" + []string{"d1", "d1", "d2"}[i]
			t.Check(info.User == user && info.Replica == want, "Info names the token's user and device", "user %q, replica %q", info.User, info.Replica)
			t.OK(t.Do(Request{Path: protocol.PathCollections, Auth: "Bearer " + tok, Body: []byte{0x80}}), nil)
		}
	})

	serverCase(Case{
		ID: "server/admin/invalid-names", Level: MUST,
		Reqs:  []string{"SP-11-2", "SP-2-4"},
		Needs: []string{"--admin-token", "feature:admin-tokens"},
		Desc:  "user and device names outside SP-2-4 are malformed_request",
		Procedure: `
			With the admin token, request tokens for user "", "a b", "a/b", "é", 65 characters,
			and for a valid user with device "" and "x y". Assert: malformed_request (400) each
			time.`,
	}, func(t *T) {
		t.Need(Admin)
		t.NeedFeature(protocol.FeatureAdmin)
		for _, c := range []protocol.TokenRequest{{User: "", Device: "d"}, {User: "a b", Device: "d"}, {User: "a/b", Device: "d"}, {User: "é", Device: "d"},
			{User: strings.Repeat("a", 65), Device: "d"}, {User: "cf-ok", Device: ""}, {User: "cf-ok", Device: "x y"}} {
			t.WantError(t.Post(Admin, protocol.PathAdminTokens, c), protocol.CodeMalformed)
		}
	})

	serverCase(Case{
		ID: "server/admin/admin-token-only-there", Level: MUST,
		Reqs:  []string{"SP-11-1", "SP-3-6", "SP-3-5"},
		Needs: []string{"--admin-token"},
		Desc:  "the admin token is refused everywhere but the admin endpoint",
		Procedure: `
			Use the admin token at POST /v1/collections, POST /v1/changes and GET /v1/info.
			Assert: unauthorized (401) each time.`,
	}, func(t *T) {
		t.Need(Admin)
		t.WantError(t.Do(Request{Path: protocol.PathCollections, As: Admin, Body: []byte{0x80}}), protocol.CodeUnauthorized)
		t.WantError(t.Post(Admin, protocol.PathChanges, protocol.ChangesRequest{Collection: "notes"}), protocol.CodeUnauthorized)
		t.WantError(t.Do(Request{Method: http.MethodGet, Path: protocol.PathInfo, As: Admin}), protocol.CodeUnauthorized)
	})
}
