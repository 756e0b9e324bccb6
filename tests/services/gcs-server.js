// The GCS test server of tests/services/gcs.sh: the Cloud Storage emulator of firebase-tools
// (its GCS JSON API: /storage/v1/b/B/o..., /upload/storage/v1/b/B/o), started without the
// Firebase rules runtime (a Java 21 jar that firebase-tools downloads at start, so it cannot
// run offline; the JSON API never consults rules), behind a front that adds what the emulator
// lacks and djrun relies on. Everything in this file is test scaffolding written for djrun, not
// Google code, and gcs.sh says so:
//   - OAuth2 like Google's: POST /token takes the JWT bearer grant (RS256 verified with the
//     service account's public key, iss/aud/scope/iat/exp checked) and the refresh_token grant
//     (an authorized_user's client_id/client_secret/refresh_token); GET
//     /computeMetadata/v1/instance/service-accounts/default/token (Metadata-Flavor: Google) is
//     the metadata server. Tokens expire after GCS_TOKEN_TTL seconds.
//   - Bearer tokens required on every bucket but GCS_PUBLIC_BUCKET (401 "Invalid Credentials").
//   - ifGenerationMatch on uploads, compose and object reads (412), which the emulator ignores.
//   - POST .../o/DEST/compose (at most 32 sources), which the emulator answers with 501.
//   - .../rewriteTo/... and .../copyTo/... under /storage/v1 (the emulator serves them at /b/...).
// Usage: node gcs-server.js HOST PORT; settings in the environment: GCS_PUBKEY (PEM file),
// GCS_CLIENT_EMAIL, GCS_TOKEN_URI, GCS_REFRESH (client_id:client_secret:refresh_token),
// GCS_PUBLIC_BUCKET, GCS_TOKEN_TTL.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const express = require('express');
const { StorageEmulator } = require('firebase-tools/lib/emulator/storage');
const { createApp } = require('firebase-tools/lib/emulator/storage/server');
const { CloudStorageObjectMetadata } = require('firebase-tools/lib/emulator/storage/metadata');
const { EmulatorRegistry } = require('firebase-tools/lib/emulator/registry');

const [host, port] = process.argv.slice(2);
const env = process.env;
const pubkey = fs.readFileSync(env.GCS_PUBKEY, 'utf8');
let ttl = Number(env.GCS_TOKEN_TTL || 3600);
const tokens = new Map(); // access token -> { exp (ms), grant }
// grants given, per kind and per client: the JWT's kid, the refresh grant's client_id, the
// metadata request's Host (tests running at the same time count only their own)
const grants = new Map();

function gcsError(res, code, message, reason) {
	res.status(code).json({ error: { code, message, errors: [{ message, domain: 'global', reason }] } });
}

function oauthError(res, code, error, description) {
	res.status(code).json({ error, error_description: description });
}

function issue(res, grant, client) {
	const k = grant + ':' + client;
	grants.set(k, (grants.get(k) || 0) + 1);
	const t = 'ya29.djtest-' + crypto.randomBytes(24).toString('base64url');
	tokens.set(t, { exp: Date.now() + ttl * 1000, grant });
	res.json({ access_token: t, expires_in: ttl, token_type: 'Bearer' });
}

function b64json(s) {
	return JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
}

function jwtGrant(req, res) {
	const parts = String(req.body.assertion || '').split('.');
	if (parts.length !== 3)
		return oauthError(res, 400, 'invalid_grant', 'Invalid JWT: not three segments.');
	let head, claims;
	try {
		head = b64json(parts[0]);
		claims = b64json(parts[1]);
	} catch (e) {
		return oauthError(res, 400, 'invalid_grant', 'Invalid JWT: not JSON.');
	}
	if (head.alg !== 'RS256' || head.typ !== 'JWT')
		return oauthError(res, 400, 'invalid_grant', 'Invalid JWT header.');
	const ok = crypto.verify('RSA-SHA256', Buffer.from(parts[0] + '.' + parts[1]), pubkey,
		Buffer.from(parts[2], 'base64url'));
	if (!ok)
		return oauthError(res, 400, 'invalid_grant', 'Invalid JWT Signature.');
	const now = Math.floor(Date.now() / 1000);
	if (claims.iss !== env.GCS_CLIENT_EMAIL)
		return oauthError(res, 400, 'invalid_grant', 'Invalid issuer.');
	if (claims.aud !== env.GCS_TOKEN_URI)
		return oauthError(res, 400, 'invalid_grant', 'Invalid audience.');
	if (!String(claims.scope || '').split(' ').includes('https://www.googleapis.com/auth/devstorage.read_write'))
		return oauthError(res, 400, 'invalid_scope', 'Missing devstorage.read_write scope.');
	if (!(claims.iat <= now + 60 && claims.exp > now && claims.exp - claims.iat <= 3600))
		return oauthError(res, 400, 'invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.');
	issue(res, 'jwt', head.kid || '');
}

function refreshGrant(req, res) {
	const [id, secret, refresh] = String(env.GCS_REFRESH || '').split(':');
	if (req.body.client_id !== id || req.body.client_secret !== secret)
		return oauthError(res, 401, 'invalid_client', 'The OAuth client was not found.');
	if (req.body.refresh_token !== refresh)
		return oauthError(res, 400, 'invalid_grant', 'Bad Request');
	issue(res, 'refresh', req.body.client_id);
}

const emulator = new StorageEmulator({ projectId: 'demo-djrun', host, port: Number(port), rules: [] });
const layer = emulator.adminStorageLayer;
const front = express();

front.post('/token', express.urlencoded({ extended: false }), (req, res) => {
	if (req.body.grant_type === 'urn:ietf:params:oauth:grant-type:jwt-bearer')
		return jwtGrant(req, res);
	if (req.body.grant_type === 'refresh_token')
		return refreshGrant(req, res);
	oauthError(res, 400, 'unsupported_grant_type', 'Invalid grant_type: ' + req.body.grant_type);
});

front.get('/computeMetadata/v1/instance/service-accounts/default/token', (req, res) => {
	if (req.get('Metadata-Flavor') !== 'Google')
		return res.status(403).send('Missing Metadata-Flavor:Google header.');
	issue(res, 'metadata', req.get('Host'));
});

// how many tokens each grant gave (tests check that tokens are cached, not fetched per request)
front.get('/_djtest/grants', (req, res) => res.json({ n: grants.get(req.query.kind + ':' + req.query.client) || 0 }));
// forget the tokens one kind of grant gave, as a revocation does (clients must fetch new ones)
front.post('/_djtest/revoke', (req, res) => {
	for (const [t, v] of tokens)
		if (v.grant === req.query.grant)
			tokens.delete(t);
	res.json({ revoked: true });
});
// the lifetime of tokens issued from now on (tests of the client's refresh)
front.post('/_djtest/ttl', (req, res) => {
	ttl = Number(req.query.seconds) || 3600;
	res.json({ ttl });
});

// every storage request names its bucket after /b/ (JSON API)
front.use(/^(?:\/upload|\/download)?(?:\/storage\/v1)?\/b\/([^/]+)/, (req, res, next) => {
	if (req.params[0] === env.GCS_PUBLIC_BUCKET)
		return next();
	const m = /^Bearer (.+)$/.exec(req.get('Authorization') || '');
	const tok = m && tokens.get(m[1]);
	if (!tok || tok.exp < Date.now())
		return gcsError(res, 401, 'Invalid Credentials', 'authError');
	next();
});

function generationOf(bucket, name) {
	const md = layer.getMetadata(bucket, name);
	return md ? String(md.generation) : '0';
}

// ifGenerationMatch: 0 = the object must not exist; N = its generation must be N
function preconditionFails(req, bucket, name) {
	const want = req.query.ifGenerationMatch;
	return want !== undefined && name !== undefined && generationOf(bucket, name) !== String(want);
}

front.post('/upload/storage/v1/b/:bucket/o', (req, res, next) => {
	if (preconditionFails(req, req.params.bucket, req.query.name))
		return gcsError(res, 412, 'At least one of the pre-conditions you specified did not hold.', 'conditionNotMet');
	next();
});

front.get(['/storage/v1/b/:bucket/o/:object', '/download/storage/v1/b/:bucket/o/:object'], (req, res, next) => {
	if (layer.getMetadata(req.params.bucket, req.params.object) && preconditionFails(req, req.params.bucket, req.params.object))
		return gcsError(res, 412, 'At least one of the pre-conditions you specified did not hold.', 'conditionNotMet');
	next();
});

// rewrite and copy: the emulator serves them without the /storage/v1 prefix real GCS has
front.post('/storage/v1/b/:bucket/o/:object/:method(rewriteTo|copyTo)/b/:dbucket/o/:dobject', (req, res, next) => {
	if (preconditionFails(req, req.params.dbucket, req.params.dobject))
		return gcsError(res, 412, 'At least one of the pre-conditions you specified did not hold.', 'conditionNotMet');
	req.url = req.url.slice('/storage/v1'.length);
	next();
});

front.post('/storage/v1/b/:bucket/o/:object/compose', express.json({ limit: '1mb' }), async (req, res) => {
	const { bucket, object } = req.params;
	const src = (req.body && req.body.sourceObjects) || [];
	if (src.length < 1 || src.length > 32)
		return gcsError(res, 400, 'The number of source components provided (' + src.length + ') exceeds the maximum (32)', 'invalid');
	if (preconditionFails(req, bucket, object))
		return gcsError(res, 412, 'At least one of the pre-conditions you specified did not hold.', 'conditionNotMet');
	const bufs = [];
	for (const s of src) {
		const md = layer.getMetadata(bucket, s.name);
		if (!md)
			return gcsError(res, 404, 'Object ' + s.name + ' not found.', 'notFound');
		bufs.push((await layer.getObject({ bucketId: bucket, decodedObjectId: s.name })).data);
	}
	const dest = (req.body && req.body.destination) || {};
	const upload = emulator.uploadService.mediaUpload({
		bucketId: bucket, objectId: object, dataRaw: Buffer.concat(bufs),
		contentType: dest.contentType || 'application/octet-stream', authorization: 'Bearer owner',
	});
	const md = await layer.uploadObject(upload);
	res.json(new CloudStorageObjectMetadata(md));
});

// self links in metadata name the emulator's address (registered without starting it)
EmulatorRegistry.set(emulator.getName(), emulator);
createApp('demo-djrun', emulator).then((app) => {
	front.use(app);
	front.listen(Number(port), host);
});
