#include "mqtt_link.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>

#include <mosquitto.h>

#include "core/error.h"

namespace llamavid::monitor {

namespace {

constexpr int kQos = 1;
constexpr int kKeepaliveS = 30;
constexpr unsigned kReconnectFirstS = 1, kReconnectMaxS = 30;
constexpr auto kConnackTimeout = std::chrono::seconds(10);

std::string address(const BrokerAddress& b) { return b.host + ":" + std::to_string(b.port); }

}  // namespace

MqttLink::MqttLink(const BrokerAddress& broker, const std::string& client_id,
                   const Topics& topics, std::function<void(const std::string&)> on_question)
    : broker_(broker), topics_(topics), on_question_(std::move(on_question)) {
  mosq_ = mosquitto_new(client_id.c_str(), /*clean_session=*/false, this);
  if (!mosq_) throw Error("cannot make an MQTT client for '" + client_id + "'");
  mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_reconnect_delay_set(mosq_, kReconnectFirstS, kReconnectMaxS, true);
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
  if (loop_started_) mosquitto_loop_stop(mosq_, /*force=*/true);
  mosquitto_destroy(mosq_);
}

void MqttLink::connect() {
  const int rc = mosquitto_connect(mosq_, broker_.host.c_str(), broker_.port, kKeepaliveS);
  if (rc != MOSQ_ERR_SUCCESS)
    throw Error("cannot reach the MQTT broker " + address(broker_) + ": " +
                (rc == MOSQ_ERR_ERRNO ? std::string(strerror(errno)) : mosquitto_strerror(rc)));
  if (mosquitto_loop_start(mosq_) != MOSQ_ERR_SUCCESS)
    throw Error("cannot start the MQTT client's thread");
  loop_started_ = true;
  std::unique_lock<std::mutex> lock(mutex_);
  if (!changed_.wait_for(lock, kConnackTimeout, [&] { return connack_ >= 0; }))
    throw Error("the MQTT broker " + address(broker_) + " did not answer within 10 s");
  if (connack_ != 0)
    throw Error("the MQTT broker " + address(broker_) + " refused the connection: " +
                mosquitto_connack_string(connack_));
}

void MqttLink::publish(const std::string& topic, const std::string& payload, bool retain) {
  std::lock_guard<std::mutex> lock(mutex_);
  queue_.push({topic, payload, retain});
  drain();
}

bool MqttLink::close(int timeout_ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  const bool delivered =
      changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                        [&] { return queue_.waiting() == 0 && queue_.in_flight() == 0; });
  lock.unlock();
  mosquitto_disconnect(mosq_);
  mosquitto_loop_stop(mosq_, /*force=*/false);
  loop_started_ = false;
  return delivered;
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

void MqttLink::on_connect(mosquitto* m, void* obj, int rc) {
  auto* self = static_cast<MqttLink*>(obj);
  if (rc == 0) {
    mosquitto_subscribe(m, nullptr, self->topics_.ask.c_str(), kQos);
    mosquitto_subscribe(m, nullptr, self->topics_.all_ask.c_str(), kQos);
  }
  std::lock_guard<std::mutex> lock(self->mutex_);
  if (self->connack_ < 0) self->connack_ = rc;
  self->connected_ = rc == 0;
  if (rc != 0 && self->connack_ == 0)
    std::cerr << "llamavid-monitor: the MQTT broker " << address(self->broker_)
              << " refused the reconnection: " << mosquitto_connack_string(rc) << std::endl;
  self->drain();
  self->changed_.notify_all();
}

void MqttLink::on_disconnect(mosquitto*, void* obj, int rc) {
  auto* self = static_cast<MqttLink*>(obj);
  std::lock_guard<std::mutex> lock(self->mutex_);
  if (self->connected_ && rc != 0)
    std::cerr << "llamavid-monitor: lost the MQTT broker " << address(self->broker_)
              << "; reconnecting" << std::endl;
  self->connected_ = false;
}

void MqttLink::on_publish(mosquitto*, void* obj, int mid) {
  auto* self = static_cast<MqttLink*>(obj);
  std::lock_guard<std::mutex> lock(self->mutex_);
  self->queue_.acknowledged(mid);
  self->drain();
  self->changed_.notify_all();
}

void MqttLink::on_message(mosquitto*, void* obj, const mosquitto_message* msg) {
  auto* self = static_cast<MqttLink*>(obj);
  self->on_question_(std::string(static_cast<const char*>(msg->payload),
                                 static_cast<size_t>(msg->payloadlen)));
}

}  // namespace llamavid::monitor
