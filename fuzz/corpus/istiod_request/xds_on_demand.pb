
I
Gztunnel~fd00::5~ztunnel-xyz.istio-system~istio-system.svc.cluster.local*type.googleapis.com/istio.workload.Address
/10.10.1.5!demo/sleep.demo.svc.cluster.localKubernetes//Pod/demo/sleep-1*" demo/gone.demo.svc.cluster.local*&
Kubernetes//Pod/demo/sleep-1abc123