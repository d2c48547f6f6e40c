// Where configuration comes from. Two implementations feed one store the same way: the watched
// directory of local mode (config/directory_source.h) and, later, the Kubernetes API watcher.
// A source reports add/update/delete events (objects carry their resource version), full resyncs
// (after a relist or the initial scan), the current set of rejected objects, and readiness.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "istiod/config/yaml_parser.h"
#include "istiod/model/objects.h"

namespace ambit::istiod {

enum class EventType { kAdd, kUpdate, kDelete };

struct ConfigEvent {
  EventType type;
  ObjectPtr obj;  // for kDelete: the last version seen
};

class ConfigSink {
 public:
  virtual ~ConfigSink() = default;
  // A batch of incremental changes, in order.
  virtual void on_events(const std::vector<ConfigEvent>& events) = 0;
  // The source's complete state: everything not listed is gone.
  virtual void on_resync(const std::vector<ObjectPtr>& all) = 0;
  // The complete current set of rejected objects from this source (replaces the previous set).
  virtual void on_rejections(const std::vector<Rejection>& rejections) = 0;
};

class ConfigSource {
 public:
  virtual ~ConfigSource() = default;
  virtual std::string name() const = 0;
  // Lists everything (delivered as on_resync) and starts watching.
  virtual absl::Status start() = 0;
  // True once the initial list has been delivered.
  virtual bool ready() const = 0;
};

}  // namespace ambit::istiod
