"""An XSUAA-style OAuth2 token service: client credentials and password grants, RS256 JWTs."""
