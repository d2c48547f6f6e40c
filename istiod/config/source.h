// Where configuration comes from. Two implementations feed one store the same way: the watched
// directory of local mode (config/directory_source.h) and, later, the Kubernetes API watcher.
// A source reports add/update/delete events (objects carry their resource version), full resyncs
// (after a relist or the initial scan), the current set of rejected objects, and readiness.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
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

// An object a controller generates (istiod's deployment controller: a waypoint's ServiceAccount,
// Deployment and Service), in its Kubernetes form.
struct GeneratedObject {
  std::string api_version, kind, ns, name;  // ns empty for cluster-scoped kinds
  std::string yaml;                         // the whole object, one YAML document
  // "<kind>-<ns>.<name>.yaml" with the kind in lowercase: the name `ambitctl local apply` gives
  // an object's file, so one object is one file whoever wrote it.
  std::string file_name() const;
};

struct GeneratedKey {
  std::string kind, ns, name;
  auto operator<=>(const GeneratedKey&) const = default;
};

// The write path of a config source: where controllers put what they generate. The Kubernetes
// source will create/update/delete through the API server; local mode writes files
// (config/directory_writer.h). Both are idempotent: applying what is already stored changes
// nothing (no event, no rewrite).
class ConfigWriter {
 public:
  virtual ~ConfigWriter() = default;
  virtual std::string name() const = 0;
  // Creates or replaces the object.
  virtual absl::Status apply(const GeneratedObject& obj) = 0;
  // Deletes it; deleting an absent object is not an error.
  virtual absl::Status remove(const GeneratedKey& key) = 0;
  // Every stored object carrying the label key=value: what a controller owns, so that objects
  // whose owner vanished while istiod was down are found and deleted.
  virtual absl::StatusOr<std::vector<GeneratedKey>> list_labeled(const std::string& key, const std::string& value) = 0;
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
