// The local mesh's kubelet and DaemonSet controller in one process (`ambitctl local supervise`,
// started detached by `local up`). It
//  - keeps istiod, and an agent + ztunnel per node, running (restarting them with backoff when
//    they exit, unless `ambitctl local stop` left a marker in run/stopped/);
//  - realizes the Pods and Deployments under workloads/: a netns on a node with a veth on the
//    node's bridge, an address from the node's range, a cgroup under the node's, the Pod object
//    (with IP and node) written for istiod, the CNI plugin called as a kubelet would (retried
//    while it says "try again"), then the containers' processes, restarted per restartPolicy;
//    each pod gets a service-account token (common/identity/sa_token.h, minted with the key in
//    ca/) in a 0600 file named by AMBIT_SA_TOKEN_FILE, as a kubelet projects one, plus
//    CA_ADDRESS and CA_ROOT_CA (istiod's address and the mesh root) so it can get its own
//    certificate from istiod;
//    label changes are applied in place, spec changes recreate the pod;
//  - writes run/status.json for `ambitctl local status`.
// On SIGTERM it deletes every pod (CNI DEL) and stops the components, in reverse order.
#pragma once

#include "cli/local/plan.h"

namespace ambit::cli {

// Runs until SIGTERM/SIGINT. Returns the process exit code.
int run_supervisor(const MeshPlan& plan);

}  // namespace ambit::cli
