package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// TokenType tells access tokens from refresh tokens. The original checked
// it on some routes only, so a refresh token opened the file routes; here
// every parse names the type it wants.
type TokenType string

const (
	Access  TokenType = "access"
	Refresh TokenType = "refresh"
)

// MinSecretLen is the shortest JWT_SECRET_KEY accepted: HS256 keys shorter
// than the hash output (32 bytes) make brute-forcing the key easier than
// forging anything else.
const MinSecretLen = 32

// Claims are a token's contents.
type Claims struct {
	jwt.RegisteredClaims
	Type      TokenType `json:"type"`
	Username  string    `json:"username,omitempty"`
	Email     string    `json:"email,omitempty"`
	SessionID string    `json:"sid"`
}

// TokenError says why a token was refused. Reason is safe to show a client.
type TokenError struct {
	Reason string
	Err    error
}

func (e *TokenError) Error() string { return "invalid token: " + e.Reason }
func (e *TokenError) Unwrap() error { return e.Err }

// ErrInvalidToken matches every *TokenError with errors.Is.
var ErrInvalidToken = errors.New("invalid token")

func (e *TokenError) Is(target error) bool { return target == ErrInvalidToken }

// signer issues and checks HS256 tokens.
type signer struct {
	secret   []byte
	issuer   string
	audience string
	now      func() time.Time
}

func (s *signer) issue(typ TokenType, u User, sessionID, jti uuid.UUID, ttl time.Duration) (string, time.Time, error) {
	now := s.now()
	exp := now.Add(ttl)
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.issuer,
			Subject:   u.ID.String(),
			Audience:  jwt.ClaimStrings{s.audience},
			ExpiresAt: jwt.NewNumericDate(exp),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ID:        jti.String(),
		},
		Type:      typ,
		Username:  u.Username,
		SessionID: sessionID.String(),
	}
	if typ == Access {
		c.Email = u.Email
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign %s token: %w", typ, err)
	}
	return tok, exp, nil
}

// tokenLeeway is the clock skew allowed on expiry and issue times.
const tokenLeeway = 30 * time.Second

// parse checks signature, algorithm, issuer, audience, expiry and type.
func (s *signer) parse(raw string, want TokenType) (*Claims, uuid.UUID, uuid.UUID, error) {
	var c Claims
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(s.issuer),
		jwt.WithAudience(s.audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(tokenLeeway),
		jwt.WithTimeFunc(s.now),
	)
	if _, err := p.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return s.secret, nil }); err != nil {
		reason := "the token is malformed or its signature does not match"
		switch {
		case errors.Is(err, jwt.ErrTokenExpired):
			reason = "the token has expired"
		case errors.Is(err, jwt.ErrTokenInvalidAudience):
			reason = "the token is not meant for this service (audience)"
		case errors.Is(err, jwt.ErrTokenInvalidIssuer):
			reason = "the token was not issued by this service (issuer)"
		case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
			reason = "the token is not valid yet"
		}
		return nil, uuid.Nil, uuid.Nil, &TokenError{Reason: reason, Err: err}
	}
	if c.Type != want {
		return nil, uuid.Nil, uuid.Nil, &TokenError{Reason: fmt.Sprintf("a %s token is required, not a %q token", want, c.Type)}
	}
	sid, err1 := uuid.Parse(c.SessionID)
	jti, err2 := uuid.Parse(c.ID)
	if _, err3 := uuid.Parse(c.Subject); err1 != nil || err2 != nil || err3 != nil {
		return nil, uuid.Nil, uuid.Nil, &TokenError{Reason: "the token lacks its session, id or subject"}
	}
	return &c, sid, jti, nil
}
