
b
Hztunnel~10.0.0.5~ztunnel-abc.istio-system~istio-system.svc.cluster.local

	NODE_NAMEnode1*type.googleapis.com/istio.workload.Address