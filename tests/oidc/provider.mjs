// A local OpenID Connect provider for the Hubs tests: node-oidc-provider with its
// development login form (any account name, any password) and one client, "hubs".
//   node provider.mjs PORT REDIRECT_URI CLIENT_SECRET
import Provider from 'oidc-provider';

const [port, redirectUri, clientSecret] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'hubs',
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    profile: ['name', 'nickname', 'preferred_username'],
    email: ['email'],
  },
  conformIdTokenClaims: false, // put the profile claims in the ID token itself
  async findAccount(ctx, id) {
    const nick = id.toLowerCase();
    return {
      accountId: id,
      async claims() {
        return { sub: nick, nickname: nick, preferred_username: nick, name: `${nick} (test account)`,
                 email: `${nick}@example.org` };
      },
    };
  },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['hubs-tests-only'] },
});
provider.proxy = false;
const server = provider.listen(Number(port), '127.0.0.1', () => console.log(`ready ${issuer}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
