package notify

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"time"

	"slokeeper"
	"slokeeper/internal/webhook"
)

// Token is the capability in a subscriber's links: the HMAC-SHA256 of
// the purpose and ID under the subscriber's own secret, 128 bits in
// base64url. Nothing that opens it is stored in the clear: the secret is
// sealed by the master key.
func Token(secret []byte, purpose, id string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(purpose + "\x00" + id))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
}

func secretAD(id string) []byte { return []byte("subscriber:" + id) }

func newID() string { return "sub_" + rand.Text()[:16] }

// checkComponents refuses component IDs that do not exist.
func (n *Notifier) checkComponents(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	cs, err := n.cfg.Components.FindComponents(ctx, slokeeper.ComponentFilter{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range ids {
		if !slices.ContainsFunc(cs, func(c *slokeeper.Component) bool { return c.ID == id && !c.Hidden }) {
			return nil, slokeeper.Errorf(slokeeper.EINVALID, "No component %q.", id)
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// Subscribe asks for notices by e-mail: the address gets a message with
// a link that confirms (double opt-in). Subscribing again an address
// still waiting sends the confirmation again, with the new choices, but
// at most once per slokeeper.ConfirmEvery, so the form cannot be used to
// flood someone's mailbox; an address already confirmed is left as it
// is. Whatever happened the answer is the same, so the form never tells
// who is subscribed or who was just sent a message.
func (n *Notifier) Subscribe(ctx context.Context, address, lang string, components []string) error {
	components, err := n.checkComponents(ctx, components)
	if err != nil {
		return err
	}
	now := n.cfg.Clock.Now().UTC().Truncate(time.Microsecond)
	sub := &slokeeper.Subscriber{ID: newID(), Channel: slokeeper.ChannelEmail, Address: address, Lang: lang, Components: components, CreatedAt: now}
	if err := sub.Validate(); err != nil {
		return err
	}
	existing, err := n.cfg.Store.FindSubscribers(ctx, slokeeper.SubscriberFilter{Channel: slokeeper.ChannelEmail, Address: sub.Address})
	if err != nil {
		return err
	}
	if len(existing) == 1 {
		if !existing[0].ConfirmedAt.IsZero() {
			return nil
		}
		if err := n.cfg.Store.UpdateSubscriber(ctx, existing[0].ID, lang, components); err != nil {
			return err
		}
		_, err := n.cfg.Store.ResendConfirmation(ctx, existing[0].ID, now, now.Add(-slokeeper.ConfirmEvery))
		return err
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	if sub.Secret, err = n.cfg.Secrets.SealSystem(secret, secretAD(sub.ID)); err != nil {
		return err
	}
	err = n.cfg.Store.CreateSubscriber(ctx, sub)
	if slokeeper.ErrorCode(err) == slokeeper.ECONFLICT {
		return nil // subscribed at this very moment by another request
	}
	return err
}

// Check returns the subscriber whose link this is, or EUNAUTHORIZED.
func (n *Notifier) Check(ctx context.Context, id, token, purpose string) (*slokeeper.Subscriber, error) {
	bad := slokeeper.Errorf(slokeeper.EUNAUTHORIZED, "This link is not valid, or the subscription has already ended.")
	subs, err := n.cfg.Store.FindSubscribers(ctx, slokeeper.SubscriberFilter{ID: id})
	if err != nil {
		return nil, err
	}
	if len(subs) == 0 || id == "" {
		return nil, bad
	}
	secret, err := n.cfg.Secrets.OpenSystem(subs[0].Secret, secretAD(id))
	if err != nil {
		return nil, err
	}
	if !hmac.Equal([]byte(Token(secret, purpose, id)), []byte(token)) {
		return nil, bad
	}
	return subs[0], nil
}

// Confirm confirms a subscription from its link.
func (n *Notifier) Confirm(ctx context.Context, id, token string) (*slokeeper.Subscriber, error) {
	sub, err := n.Check(ctx, id, token, "confirm")
	if err != nil {
		return nil, err
	}
	if err := n.cfg.Store.ConfirmSubscriber(ctx, id, n.cfg.Clock.Now().UTC().Truncate(time.Microsecond)); err != nil {
		return nil, err
	}
	return sub, nil
}

// Unsubscribe ends a subscription from its link, at once; the address is
// forgotten.
func (n *Notifier) Unsubscribe(ctx context.Context, id, token string) (*slokeeper.Subscriber, error) {
	sub, err := n.Check(ctx, id, token, "unsubscribe")
	if err != nil {
		return nil, err
	}
	return sub, n.cfg.Store.DeleteSubscriber(ctx, id)
}

// AddWebhook adds a webhook subscriber (staff only) and returns its
// signing secret, shown this once.
func (n *Notifier) AddWebhook(ctx context.Context, url, lang string, components []string) (*slokeeper.Subscriber, string, error) {
	components, err := n.checkComponents(ctx, components)
	if err != nil {
		return nil, "", err
	}
	now := n.cfg.Clock.Now().UTC().Truncate(time.Microsecond)
	sub := &slokeeper.Subscriber{ID: newID(), Channel: slokeeper.ChannelWebhook, Address: url, Lang: lang, Components: components, CreatedAt: now, ConfirmedAt: now}
	if err := sub.Validate(); err != nil {
		return nil, "", err
	}
	if err := n.cfg.Webhooks.CheckURL(sub.Address); err != nil {
		return nil, "", err
	}
	secret := webhook.NewSecret()
	if sub.Secret, err = n.cfg.Secrets.SealSystem([]byte(secret), secretAD(sub.ID)); err != nil {
		return nil, "", err
	}
	if err := n.cfg.Store.CreateSubscriber(ctx, sub); err != nil {
		return nil, "", err
	}
	return sub, secret, nil
}
