package main

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"slokeeper/internal/mqtt/mqtttest"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
)

// TestServeDrainsRetiredNodes: node "old" has left the cluster, its
// session still at the broker with what devices published since. A node
// started with mqtt_drain_nodes: old stores those messages.
func TestServeDrainsRetiredNodes(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	cfg.MQTT = mqtttest.Broker(t)
	mustAccount(t, cfg.Data, "", "acct-9")
	out, _, _ := cliRun(t, "source", "add", "--data", cfg.Data, "--kind", "device", "--account", "acct-9", "--name", "meter")
	sourceID := regexp.MustCompile(`source: (src_\w+)`).FindStringSubmatch(out)[1]
	u, _ := url.Parse(cfg.MQTT)
	ctx := context.Background()
	connect := func(id string, persistent bool) *autopaho.ConnectionManager {
		t.Helper()
		c := autopaho.ClientConfig{ServerUrls: []*url.URL{u}, KeepAlive: 30, ClientConfig: paho.ClientConfig{ClientID: id}}
		if persistent {
			c.SessionExpiryInterval = 3600
		}
		cm, err := autopaho.NewConnection(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if err := cm.AwaitConnection(ctx); err != nil {
			t.Fatal(err)
		}
		return cm
	}
	old := connect("slokeeper-old", true)
	if _, err := old.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "$share/slokeeper/slokeeper/+/logs", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	old.Disconnect(ctx)
	dev := connect("meter", false)
	defer dev.Disconnect(ctx)
	for i := range 5 {
		if _, err := dev.Publish(ctx, &paho.Publish{Topic: "slokeeper/" + sourceID + "/logs", QoS: 1, Payload: fmt.Appendf(nil, `{"message":"queued for old %d"}`, i)}); err != nil {
			t.Fatal(err)
		}
	}
	cfg.MQTTDrainNodes = "old"
	m := MustRunMain(t, cfg)
	staff := signIn(t, m, "sre", "operator")
	waitFor(t, "the retired node's messages in the log store", func() bool {
		r := get(t, staff, m.HTTP.URL()+"/api/v1/logs?source="+sourceID)
		return strings.Count(r.body, "queued for old") == 5
	})

	t.Run("ErrOwnName", func(t *testing.T) {
		c := testConfig()
		c.Data, c.Node, c.MQTTDrainNodes = t.TempDir(), "n1", "n0, n1"
		if err := c.validate(); err == nil || !strings.Contains(err.Error(), "mqtt_drain_nodes") {
			t.Errorf("validate with this node in mqtt_drain_nodes = %v", err)
		}
	})
}
