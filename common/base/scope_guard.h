// ScopeGuard runs a function when it leaves scope unless dismissed: the cleanup half of a
// multi-step setup, written next to the step it undoes.
//
//   create_veth(a, b);
//   ScopeGuard undo([&] { delete_link(a); });
//   AMBIT_RETURN_IF_ERROR(move_to_netns(b, ns));  // undo runs on this early return
//   undo.dismiss();                               // success: keep the veth
#pragma once

#include <utility>

namespace ambit {

template <typename F>
class ScopeGuard {
 public:
  explicit ScopeGuard(F f) : f_(std::move(f)) {}
  ~ScopeGuard() {
    if (active_) f_();
  }
  ScopeGuard(ScopeGuard&& o) noexcept : f_(std::move(o.f_)), active_(std::exchange(o.active_, false)) {}
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;
  ScopeGuard& operator=(ScopeGuard&&) = delete;

  void dismiss() { active_ = false; }

 private:
  F f_;
  bool active_ = true;
};

}  // namespace ambit
