// One camera's MQTT connection (libmosquitto, MQTT 3.1.1, its own network thread): a persistent
// session (clean session off, a client id made of the prefix and the camera's name), so the
// broker keeps the camera's subscriptions and questions while the monitor is away; QoS 1
// subscriptions to P/NAME/ask and P/all/ask; QoS 1 publishes through a DeliveryQueue; a retained
// last will on P/NAME/status that says the camera is offline. A lost broker is reconnected by
// libmosquitto with a delay doubling from 1 s to 30 s.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

#include "delivery_queue.h"
#include "monitor_config.h"
#include "monitor_messages.h"

struct mosquitto;
struct mosquitto_message;

namespace llamavid::monitor {

class MqttLink {
 public:
  // `on_question`: each payload received on the ask topics, on the network thread.
  MqttLink(const BrokerAddress& broker, const std::string& client_id, const Topics& topics,
           std::function<void(const std::string& payload)> on_question);
  ~MqttLink();  // drops the connection (the will is published) unless close() ran
  MqttLink(const MqttLink&) = delete;
  MqttLink& operator=(const MqttLink&) = delete;

  // Connects and waits for the broker's answer. Error naming the broker when it cannot be
  // reached or refuses; afterwards a lost connection is made again by itself.
  void connect();
  // Queues a QoS 1 message; it goes out now or after the next reconnection.
  void publish(const std::string& topic, const std::string& payload, bool retain);
  // Waits up to `timeout_ms` for every queued message to be acknowledged, then disconnects
  // cleanly (no will). Returns whether nothing was left undelivered.
  bool close(int timeout_ms);

 private:
  static void on_connect(mosquitto* m, void* self, int rc);
  static void on_disconnect(mosquitto* m, void* self, int rc);
  static void on_publish(mosquitto* m, void* self, int mid);
  static void on_message(mosquitto* m, void* self, const mosquitto_message* msg);
  void drain();  // with mutex_ held

  BrokerAddress broker_;
  Topics topics_;
  std::function<void(const std::string&)> on_question_;
  mosquitto* mosq_ = nullptr;
  bool loop_started_ = false;

  std::mutex mutex_;
  std::condition_variable changed_;
  DeliveryQueue queue_;
  bool connected_ = false;
  int connack_ = -1;  // the broker's answer to the first connection; -1 before it
};

}  // namespace llamavid::monitor
