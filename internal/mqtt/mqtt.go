// Package mqtt ingests logs from the operator's MQTT broker: slokeeper
// subscribes with QoS 1 to slokeeper/<source-id>/logs and acknowledges each
// message only after its records are durable, so the broker keeps (and
// redelivers) whatever slokeeper has not stored. The session persists at
// the broker across restarts: messages published while slokeeper is down
// are delivered when it is back.
//
// Every node of a cluster joins one MQTT 5 shared subscription
// ($share/<group>/slokeeper/+/logs), so the broker hands each message to
// one node of the group. A broker may count a node that is down but whose
// session lives on as a member: Mosquitto (2.0) does, and queues that
// node's share in its session until it comes back under the same client
// ID (README "MQTT"). Its client ID is "slokeeper-<node name>".
package mqtt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"slokeeper"
	"slokeeper/internal/ingest"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
)

// Config configures a Subscriber.
type Config struct {
	// URL of the broker: mqtt://host:1883 or tls://host:8883, with
	// credentials as user:password@ if the broker wants them. Required.
	URL string
	// ClientID names this node's session at the broker; it must be stable
	// across restarts for the session (and undelivered messages) to
	// survive. Default: "slokeeper".
	ClientID string
	// TopicPrefix: messages arrive on <prefix>/<source-id>/logs. Default: "slokeeper".
	TopicPrefix string
	// ShareGroup names the MQTT 5 shared subscription every node of a
	// cluster joins ($share/<group>/<prefix>/+/logs), so that the broker
	// hands each message to one node of the group, not to each. Nodes of
	// one cluster use the same group; two clusters on one broker, two
	// groups. Default: "slokeeper".
	ShareGroup string
	// SessionExpiry is how long the broker keeps the session while
	// slokeeper is away. Default: 24h.
	SessionExpiry time.Duration
	// Workers store messages in parallel. Default: 8.
	Workers int
	// MaxPayload bounds one message's payload. It is announced to the
	// broker in CONNECT (as the maximum packet size, with room for the
	// topic and properties), so a broker that honours it never sends a
	// larger one, and checked again before decoding. Default:
	// DefaultMaxPayload (1 MiB).
	MaxPayload int
	// Rate limits each source's lines, shared with HTTP ingestion. A
	// message over its source's rate waits, unacknowledged, until the
	// bucket has room: backpressure, never a drop. nil: no limit.
	Rate *ingest.RateLimiter

	Logs    slokeeper.LogService    // required
	Sources slokeeper.SourceService // required
	Logger  *slog.Logger            // default: slog.Default()
}

// DefaultMaxPayload is the default bound of one message's payload.
const DefaultMaxPayload = 1 << 20

// packetOverhead is the room a PUBLISH packet needs besides its payload:
// fixed header, topic (at most 64 KiB), packet id and properties.
const packetOverhead = 70 << 10

// Subscriber is a running subscription.
type Subscriber struct {
	cfg    Config
	cm     *autopaho.ConnectionManager
	msgs   chan paho.PublishReceived
	cancel context.CancelFunc
	wg     sync.WaitGroup

	subscribed     chan struct{} // closed after the first subscription succeeds
	subscribedOnce sync.Once

	busy    atomic.Int64 // messages being handled
	handled atomic.Int64 // messages handled (stored, or dropped as unstorable)

	mu      sync.Mutex
	sources map[string]cachedSource
}

type cachedSource struct {
	src     *slokeeper.Source
	expires time.Time
}

// Open connects (and keeps reconnecting) in the background and subscribes
// on every connection.
func Open(ctx context.Context, cfg Config) (*Subscriber, error) { return open(ctx, cfg, false) }

// open is Open; leaving, it resumes the session and removes its
// subscriptions instead of subscribing, so that the broker routes nothing
// new to it while it hands over what it holds (see Drain).
func open(ctx context.Context, cfg Config, leaving bool) (*Subscriber, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "mqtt" && u.Scheme != "tls" && u.Scheme != "mqtts" && u.Scheme != "tcp") || u.Host == "" {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "The MQTT URL must look like mqtt://host:1883 or tls://host:8883.")
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "slokeeper"
	}
	if cfg.TopicPrefix == "" {
		cfg.TopicPrefix = "slokeeper"
	}
	if cfg.ShareGroup == "" {
		cfg.ShareGroup = "slokeeper"
	}
	if err := CheckShareGroup(cfg.ShareGroup); err != nil {
		return nil, err
	}
	if cfg.SessionExpiry <= 0 {
		cfg.SessionExpiry = 24 * time.Hour
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = DefaultMaxPayload
	}
	s := &Subscriber{cfg: cfg, msgs: make(chan paho.PublishReceived, 1024), sources: map[string]cachedSource{}, subscribed: make(chan struct{})}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	password, _ := u.User.Password()
	username := u.User.Username()
	// The credentials go in CONNECT, not in the URL autopaho is given: it
	// writes its URL into its errors ("failed to connect to …").
	u.User = nil
	maxPacket := uint32(cfg.MaxPayload + packetOverhead)
	plainTopic := cfg.TopicPrefix + "/+/logs"
	topic := "$share/" + cfg.ShareGroup + "/" + plainTopic
	pc := autopaho.ClientConfig{
		ServerUrls: []*url.URL{u},
		ConnectPacketBuilder: func(c *paho.Connect, _ *url.URL) (*paho.Connect, error) {
			if c.Properties == nil {
				c.Properties = &paho.ConnectProperties{}
			}
			c.Properties.MaximumPacketSize = &maxPacket
			return c, nil
		},
		KeepAlive:                     30,
		CleanStartOnInitialConnection: false, // keep what the broker queued while we were away
		SessionExpiryInterval:         uint32(cfg.SessionExpiry / time.Second),
		ReconnectBackoff:              autopaho.NewExponentialBackoff(500*time.Millisecond, 30*time.Second, 2*time.Second, 2),
		ConnectUsername:               username,
		ConnectPassword:               []byte(password),
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			if leaving {
				go func() {
					if _, err := cm.Unsubscribe(runCtx, &paho.Unsubscribe{Topics: []string{topic, plainTopic}}); err != nil {
						cfg.Logger.Error("mqtt: unsubscribe a retired node's session", "client_id", cfg.ClientID, "err", err)
						return
					}
					s.subscribedOnce.Do(func() { close(s.subscribed) })
				}()
				return
			}
			go func() {
				if _, err := cm.Subscribe(runCtx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 1}}}); err != nil {
					cfg.Logger.Error("mqtt: subscribe", "topic", topic, "err", err)
					return
				}
				cfg.Logger.Info("mqtt: subscribed", "broker", u.Redacted(), "topic", topic)
				// A session from before shared subscriptions still holds the
				// plain one, which would hand this node a copy of every
				// message besides its share: drop it (the broker answers "no
				// such subscription" when there is none).
				if _, err := cm.Unsubscribe(runCtx, &paho.Unsubscribe{Topics: []string{plainTopic}}); err != nil {
					cfg.Logger.Debug("mqtt: unsubscribe the unshared topic", "topic", plainTopic, "err", err)
				}
				s.subscribedOnce.Do(func() { close(s.subscribed) })
			}()
		},
		OnConnectError: func(err error) { cfg.Logger.Warn("mqtt: connect", "broker", u.Redacted(), "err", err) },
		ClientConfig: paho.ClientConfig{
			ClientID:                   cfg.ClientID,
			EnableManualAcknowledgment: true, // ack after the durable write, not on receipt
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				select {
				case s.msgs <- pr:
				case <-runCtx.Done():
				}
				return true, nil
			}},
		},
	}
	cm, err := autopaho.NewConnection(runCtx, pc)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	s.cm = cm
	for range cfg.Workers {
		s.wg.Go(func() {
			for {
				select {
				case pr := <-s.msgs:
					s.busy.Add(1)
					s.handle(runCtx, pr)
					s.handled.Add(1)
					s.busy.Add(-1)
				case <-runCtx.Done():
					return
				}
			}
		})
	}
	return s, nil
}

// CheckShareGroup refuses a shared subscription group name the broker
// would not take: empty, or with a topic level separator or a wildcard.
func CheckShareGroup(g string) error {
	if g == "" || strings.ContainsAny(g, "/+#") {
		return slokeeper.Errorf(slokeeper.EINVALID, "The MQTT share group %q must be a non-empty name without /, + or #.", g)
	}
	return nil
}

// AwaitSubscribed waits until the subscription is in place at the broker:
// from then on, what devices publish is kept for slokeeper, even while it
// is away.
func (s *Subscriber) AwaitSubscribed(ctx context.Context) error {
	select {
	case <-s.subscribed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Drain empties the session of a node that has left the cluster for good
// (its client ID in cfg.ClientID): it resumes the session, takes it out of
// the shared subscription so that the broker routes nothing new to it,
// stores what the broker had queued there (and the messages the node never
// acknowledged) as a running node does, and once nothing has arrived for
// idle, ends the session. It returns how many messages it handled. Run
// twice, or by two nodes at once, it stores nothing twice: the payload key
// recognises a redelivered message.
func Drain(ctx context.Context, cfg Config, idle time.Duration) (int, error) {
	if cfg.ClientID == "" {
		return 0, slokeeper.Errorf(slokeeper.EINVALID, "Name the node whose MQTT session is to be drained.")
	}
	s, err := open(ctx, cfg, true)
	if err != nil {
		return 0, err
	}
	if err := s.AwaitSubscribed(ctx); err != nil {
		s.Close(context.WithoutCancel(ctx))
		return 0, fmt.Errorf("mqtt: drain %s: %w", cfg.ClientID, err)
	}
	last, seen := time.Now(), int64(-1)
	for {
		if n := s.handled.Load(); n != seen || s.busy.Load() > 0 || len(s.msgs) > 0 {
			last, seen = time.Now(), n
		} else if time.Since(last) >= idle {
			break
		}
		t := time.NewTimer(min(idle/4+time.Millisecond, 100*time.Millisecond))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			s.Close(context.WithoutCancel(ctx))
			return int(s.handled.Load()), ctx.Err()
		}
	}
	n := int(s.handled.Load())
	if err := s.Close(ctx); err != nil {
		return n, fmt.Errorf("mqtt: drain %s: %w", cfg.ClientID, err)
	}
	// A clean start with no expiry replaces the emptied session with one
	// that ends at once: the broker forgets the node.
	u, _ := url.Parse(s.cfg.URL)
	password, _ := u.User.Password()
	username := u.User.Username()
	u.User = nil
	cm, err := autopaho.NewConnection(ctx, autopaho.ClientConfig{
		ServerUrls: []*url.URL{u}, KeepAlive: 30, CleanStartOnInitialConnection: true, SessionExpiryInterval: 0,
		ConnectUsername: username, ConnectPassword: []byte(password),
		ClientConfig: paho.ClientConfig{ClientID: cfg.ClientID},
	})
	if err != nil {
		return n, fmt.Errorf("mqtt: end the session of %s: %w", cfg.ClientID, err)
	}
	if err := cm.AwaitConnection(ctx); err != nil {
		return n, fmt.Errorf("mqtt: end the session of %s: %w", cfg.ClientID, err)
	}
	if err := cm.Disconnect(ctx); err != nil {
		return n, fmt.Errorf("mqtt: end the session of %s: %w", cfg.ClientID, err)
	}
	s.cfg.Logger.Info("mqtt: drained and ended a retired node's session", "client_id", cfg.ClientID, "messages", n)
	return n, nil
}

// Close disconnects. Messages received but not yet stored are not
// acknowledged: the broker delivers them again on the next connection.
func (s *Subscriber) Close(ctx context.Context) error {
	err := s.cm.Disconnect(ctx)
	s.cancel()
	s.wg.Wait()
	return err
}

// handle stores one message and acknowledges it when stored, or when it
// can never be stored (unknown source, unreadable payload): those are
// logged and dropped, or the broker would deliver them for ever.
func (s *Subscriber) handle(ctx context.Context, pr paho.PublishReceived) {
	pb := pr.Packet
	ack := func() {
		if err := pr.Client.Ack(pb); err != nil {
			s.cfg.Logger.Warn("mqtt: ack", "topic", pb.Topic, "err", err)
		}
	}
	parts := strings.Split(pb.Topic, "/")
	if len(parts) != 3 || parts[2] != "logs" {
		s.cfg.Logger.Warn("mqtt: dropping a message on an unexpected topic", "topic", pb.Topic)
		ack()
		return
	}
	src, err := s.source(ctx, parts[1])
	if err != nil {
		s.cfg.Logger.Warn("mqtt: dropping a message from an unknown or revoked source", "topic", pb.Topic, "err", err)
		ack()
		return
	}
	// A payload over MaxPayload is refused before it is decoded (a broker
	// that ignores the maximum packet size could still send one).
	recs, reason := ingest.ParseMessage(pb.Payload, s.cfg.MaxPayload, ingest.Limits{})
	if len(recs) == 0 {
		s.cfg.Logger.Warn("mqtt: dropping a message with nothing to store", "topic", pb.Topic, "reason", reason)
		ack()
		return
	}
	for i := range recs {
		recs[i].Account, recs[i].SourceKind, recs[i].SourceID = src.Account, src.Kind, src.ID
	}
	if !s.awaitRate(ctx, src.ID, len(recs)) {
		return // closing: not acknowledged, so delivered again
	}
	// The same payload from the same source is stored once a day: a
	// redelivery after a crash between the write and the ack adds nothing.
	sum := sha256.Sum256(append([]byte("mqtt\n"+src.ID+"\n"), pb.Payload...))
	if !s.store(ctx, pb.Topic, src, recs, hex.EncodeToString(sum[:])) {
		return // closing: not acknowledged, so delivered again
	}
	if reason != "" {
		s.cfg.Logger.Warn("mqtt: some lines of a message were refused", "topic", pb.Topic, "reason", reason)
	}
	ack()
}

// store appends a message's records, trying again while the log store
// cannot take them (its database away: a failover, a cut) until they are
// stored or ctx ends (false: closing). It must not give up and leave the
// message unacknowledged while the connection lives: an MQTT 5 broker
// redelivers only on a new connection, and acks go out in order, so every
// later message of this node's share would wait behind it, held at the
// broker, until a reconnect. The payload key makes every retry safe. A
// batch the store refuses as such (EINVALID) can never be stored: it is
// dropped, logged, like an unreadable payload.
func (s *Subscriber) store(ctx context.Context, topic string, src *slokeeper.Source, recs []slokeeper.LogRecord, key string) bool {
	for attempt, wait := 1, 100*time.Millisecond; ; attempt, wait = attempt+1, min(2*wait, 5*time.Second) {
		_, err := s.cfg.Logs.AppendLogs(ctx, src.Class(), recs, key)
		switch {
		case err == nil:
			return true
		case ctx.Err() != nil:
			return false
		case slokeeper.ErrorCode(err) == slokeeper.EINVALID:
			s.cfg.Logger.Error("mqtt: dropping a message the log store refuses", "topic", topic, "err", err)
			return true
		}
		s.cfg.Logger.Warn("mqtt: storing a message failed; trying again, unacknowledged", "topic", topic, "attempt", attempt, "retry_after", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
}

// awaitRate waits until the source's bucket has room for n lines, or ctx
// ends (false). The message stays unacknowledged meanwhile; acks go out
// in order, so the broker, at its in-flight limit, stops sending: the
// whole subscription slows to the sources' rates.
func (s *Subscriber) awaitRate(ctx context.Context, source string, n int) bool {
	if s.cfg.Rate == nil {
		return true
	}
	logged := false
	for {
		ok, wait := s.cfg.Rate.Take(source, n)
		if ok {
			return true
		}
		if !logged {
			s.cfg.Logger.Info("mqtt: a source is over its rate; its message waits", "source", source, "lines", n, "retry_after", wait)
			logged = true
		}
		// Re-check at least once a second: the limiter's clock may not be
		// the wall clock.
		t := time.NewTimer(min(max(wait, 10*time.Millisecond), time.Second))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
}

func (s *Subscriber) source(ctx context.Context, id string) (*slokeeper.Source, error) {
	now := time.Now()
	s.mu.Lock()
	c, ok := s.sources[id]
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.src, nil
	}
	srcs, err := s.cfg.Sources.FindSources(ctx, slokeeper.SourceFilter{ID: id})
	if err != nil {
		return nil, err
	}
	if len(srcs) == 0 {
		return nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "No live source %q.", id)
	}
	s.mu.Lock()
	s.sources[id] = cachedSource{srcs[0], now.Add(10 * time.Second)}
	s.mu.Unlock()
	return srcs[0], nil
}
