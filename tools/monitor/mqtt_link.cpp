#include "mqtt_link.h"

#include <cerrno>
#include <cstring>
#include <iostream>

#include <glib-unix.h>
#include <mosquitto.h>

#include "core/error.h"

namespace llamavid::monitor {

namespace {

constexpr int kQos = 1;
constexpr int kKeepaliveS = 30;
constexpr int kConnackTimeoutMs = 10000;
// Writes left over (a full socket), keepalive pings and stalled reconnections are looked after
// this often.
constexpr guint kTickMs = 200;

std::string address(const BrokerAddress& b) { return b.host + ":" + std::to_string(b.port); }

int64_t now_ms() { return g_get_monotonic_time() / 1000; }

}  // namespace

MqttLink::MqttLink(const BrokerAddress& broker, const std::string& client_id,
                   const Topics& topics, std::function<void(const std::string&)> on_question)
    : broker_(broker), topics_(topics), on_question_(std::move(on_question)) {
  mosq_ = mosquitto_new(client_id.c_str(), /*clean_session=*/false, this);
  if (!mosq_) throw Error("cannot make an MQTT client for '" + client_id + "'");
  mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_max_inflight_messages_set(mosq_, DeliveryQueue::kInFlight);
  const std::string will = offline_status_json();
  mosquitto_will_set(mosq_, topics_.status.c_str(), static_cast<int>(will.size()), will.data(),
                     kQos, /*retain=*/true);
  mosquitto_connect_callback_set(mosq_, on_connect);
  mosquitto_disconnect_callback_set(mosq_, on_disconnect);
  mosquitto_publish_callback_set(mosq_, on_publish);
  mosquitto_message_callback_set(mosq_, on_message);
}

MqttLink::~MqttLink() {
  closing_ = true;
  unwatch_socket();
  if (tick_) g_source_remove(tick_);
  if (retry_) g_source_remove(retry_);
  mosquitto_destroy(mosq_);
}

void MqttLink::connect() {
  const int rc = mosquitto_connect(mosq_, broker_.host.c_str(), broker_.port, kKeepaliveS);
  if (rc != MOSQ_ERR_SUCCESS)
    throw Error("cannot reach the MQTT broker " + address(broker_) + ": " +
                (rc == MOSQ_ERR_ERRNO ? std::string(strerror(errno)) : mosquitto_strerror(rc)));
  watch_socket();
  tick_ = g_timeout_add(kTickMs, on_tick, this);
  if (!run_until([&] { return connack_ >= 0; }, kConnackTimeoutMs))
    throw Error("the MQTT broker " + address(broker_) + " did not answer within 10 s");
  if (connack_ != 0)
    throw Error("the MQTT broker " + address(broker_) + " refused the connection: " +
                mosquitto_connack_string(connack_));
}

void MqttLink::publish(const std::string& topic, const std::string& payload, bool retain) {
  queue_.push({topic, payload, retain});
  drain();
}

bool MqttLink::close(int timeout_ms) {
  const bool delivered = run_until(
      [&] { return queue_.waiting() == 0 && queue_.in_flight() == 0; }, timeout_ms);
  closing_ = true;
  mosquitto_disconnect(mosq_);
  mosquitto_loop_write(mosq_, 1);  // the DISCONNECT packet
  unwatch_socket();
  return delivered;
}

bool MqttLink::run_until(const std::function<bool()>& done, int timeout_ms) {
  // A wake-up at the deadline, so that an idle main loop does not block past it.
  bool late = false;
  const guint wake = g_timeout_add(static_cast<guint>(timeout_ms), [](gpointer flag) -> gboolean {
    *static_cast<bool*>(flag) = true;
    return G_SOURCE_REMOVE;
  }, &late);
  while (!done() && !late) g_main_context_iteration(nullptr, TRUE);
  if (!late) g_source_remove(wake);
  return done();
}

void MqttLink::drain() {
  while (connected_) {
    auto next = queue_.next();
    if (!next) return;
    int mid = 0;
    const int rc = mosquitto_publish(mosq_, &mid, next->topic.c_str(),
                                     static_cast<int>(next->payload.size()),
                                     next->payload.data(), kQos, next->retain);
    // NO_CONN: the connection dropped meanwhile; libmosquitto keeps a QoS 1 message it was
    // given and sends it after the reconnection, so it counts as handed over.
    if (rc == MOSQ_ERR_SUCCESS || rc == MOSQ_ERR_NO_CONN) {
      queue_.handed_over(mid);
    } else {
      std::cerr << "llamavid-monitor: a message to " << next->topic
                << " cannot be published: " << mosquitto_strerror(rc) << std::endl;
    }
  }
}

void MqttLink::watch_socket() {
  unwatch_socket();
  const int fd = mosquitto_socket(mosq_);
  if (fd < 0) return;
  io_watch_ = g_unix_fd_add(fd, static_cast<GIOCondition>(G_IO_IN | G_IO_HUP | G_IO_ERR),
                            on_readable, this);
}

void MqttLink::unwatch_socket() {
  if (io_watch_) g_source_remove(io_watch_);
  io_watch_ = 0;
}

gboolean MqttLink::on_readable(gint, GIOCondition, gpointer obj) {
  auto* self = static_cast<MqttLink*>(obj);
  // Callbacks run from here; a lost connection calls on_disconnect, which drops this watch.
  if (mosquitto_loop_read(self->mosq_, 1) == MOSQ_ERR_SUCCESS)
    mosquitto_loop_write(self->mosq_, 1);  // what the callbacks queued (acks, subscriptions)
  return self->io_watch_ ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

gboolean MqttLink::on_tick(gpointer obj) {
  auto* self = static_cast<MqttLink*>(obj);
  if (self->attempt_started_ms_ && now_ms() - self->attempt_started_ms_ > kConnackTimeoutMs) {
    self->lost();  // a reconnection that hangs (a broker host that does not answer)
    return G_SOURCE_CONTINUE;
  }
  if (mosquitto_socket(self->mosq_) < 0) return G_SOURCE_CONTINUE;
  if (mosquitto_want_write(self->mosq_)) mosquitto_loop_write(self->mosq_, 1);
  if (mosquitto_socket(self->mosq_) >= 0) mosquitto_loop_misc(self->mosq_);  // keepalive
  return G_SOURCE_CONTINUE;
}

void MqttLink::lost() {
  unwatch_socket();
  connected_ = false;
  attempt_started_ms_ = 0;
  if (closing_ || retry_) return;
  retry_ = g_timeout_add(static_cast<guint>(backoff_.next_delay_ms()), [](gpointer obj) -> gboolean {
    auto* self = static_cast<MqttLink*>(obj);
    self->retry_ = 0;
    self->reconnect();
    return G_SOURCE_REMOVE;
  }, this);
}

void MqttLink::reconnect() {
  // Non-blocking: the connection completes on the tick's writes, CONNACK on a read.
  if (mosquitto_reconnect_async(mosq_) != MOSQ_ERR_SUCCESS) {
    lost();
    return;
  }
  attempt_started_ms_ = now_ms();
  watch_socket();
}

void MqttLink::on_connect(mosquitto* m, void* obj, int rc) {
  auto* self = static_cast<MqttLink*>(obj);
  if (self->connack_ < 0) self->connack_ = rc;
  self->attempt_started_ms_ = 0;
  if (rc != 0) {
    if (self->connack_ == 0)
      std::cerr << "llamavid-monitor: the MQTT broker " << address(self->broker_)
                << " refused the reconnection: " << mosquitto_connack_string(rc) << std::endl;
    return;
  }
  self->connected_ = true;
  self->backoff_.reset();
  mosquitto_subscribe(m, nullptr, self->topics_.ask.c_str(), kQos);
  mosquitto_subscribe(m, nullptr, self->topics_.all_ask.c_str(), kQos);
  self->drain();
}

void MqttLink::on_disconnect(mosquitto*, void* obj, int rc) {
  auto* self = static_cast<MqttLink*>(obj);
  if (self->connected_ && rc != 0 && !self->closing_)
    std::cerr << "llamavid-monitor: lost the MQTT broker " << address(self->broker_)
              << "; reconnecting" << std::endl;
  self->lost();
}

void MqttLink::on_publish(mosquitto*, void* obj, int mid) {
  auto* self = static_cast<MqttLink*>(obj);
  self->queue_.acknowledged(mid);
  self->drain();
}

void MqttLink::on_message(mosquitto*, void* obj, const mosquitto_message* msg) {
  auto* self = static_cast<MqttLink*>(obj);
  self->on_question_(std::string(static_cast<const char*>(msg->payload),
                                 static_cast<size_t>(msg->payloadlen)));
}

}  // namespace llamavid::monitor
