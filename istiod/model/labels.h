// Kubernetes labels and label selectors (metav1.LabelSelector), shared by every object kind.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace ambit::istiod {

using Labels = std::map<std::string, std::string>;

// metav1.LabelSelector. An empty selector (no labels, no expressions) matches everything;
// callers that treat "no selector" differently keep it in a std::optional.
struct LabelSelector {
  struct Requirement {
    enum class Op { kIn, kNotIn, kExists, kDoesNotExist };
    std::string key;
    Op op = Op::kIn;
    std::vector<std::string> values;
  };
  Labels match_labels;
  std::vector<Requirement> match_expressions;

  bool empty() const { return match_labels.empty() && match_expressions.empty(); }
  bool matches(const Labels& labels) const;
};

// A Service's `selector` is a plain map; matching is subset equality.
bool selector_matches(const Labels& selector, const Labels& labels);

}  // namespace ambit::istiod
