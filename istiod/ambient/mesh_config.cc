#include "istiod/ambient/mesh_config.h"
