package protocol

// Protocol versions. A client sends the version it speaks in the
// HeaderVersion header of every request except GET /v1/info [SP-3-2].
const (
	// Version is the protocol version this package implements.
	Version = 1
	// MinVersion is the oldest version this package still speaks.
	MinVersion = 1
)

// HTTP framing.
const (
	// HeaderVersion carries the protocol version, a decimal integer.
	HeaderVersion = "Syncprint-Version"
	// ContentType is the media type of every request and response body.
	ContentType = "application/msgpack"
	// HeaderRetryAfter is set, in whole seconds, on rate_limited and
	// unavailable responses.
	HeaderRetryAfter = "Retry-After"
	// HeaderInfoTag, on GET /v1/info, carries the tag of the full Info
	// the client holds: a server with FeatureInfoTag answers an InfoShort
	// when it is the tag of the Info it would send [SP-3-16].
	HeaderInfoTag = "Syncprint-Info-Tag"
	// HeaderNextCursor is the response header of a change-info page
	// that says, ahead of the body, the cursor of the next page
	// (SP-6.1-10).
	HeaderNextCursor = "Syncprint-Next-Cursor"
)

// Endpoint paths [SP-3-1].
const (
	PathInfo        = "/v1/info"
	PathCollections = "/v1/collections"
	PathChanges     = "/v1/changes"
	PathExchange    = "/v1/exchange"
	PathWatch       = "/v1/watch"
	PathConflicts   = "/v1/conflicts"
	PathResolve     = "/v1/conflicts/resolve"
	PathAdminTokens = "/v1/admin/tokens"
)

// Feature names announced in Info.Features.
const (
	FeatureWatch     = "watch"
	FeatureConflicts = "conflicts"
	FeatureAdmin     = "admin-tokens"
	// FeatureInfoCollections: Info answered to a request with a valid
	// token lists the caller's collections and conflicts sequence number,
	// as POST /v1/collections would [SP-3-15].
	FeatureInfoCollections = "info-collections"
	// FeatureInfoTag: Info carries a tag of its unchanging part, and a
	// request that sends it back gets only the changing part [SP-3-16].
	FeatureInfoTag = "info-tag"
	// FeatureNextCursor: a change-info page with more to come names the
	// next page's cursor in the header HeaderNextCursor [SP-6.1-10].
	FeatureNextCursor = "next-cursor"
	// FeatureResolveBatch: a resolution request that carries a batch ID
	// is recorded and answered again as an exchange is [SP-10-10].
	FeatureResolveBatch = "resolve-batch"
)
