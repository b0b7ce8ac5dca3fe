// The atomic entry points are static inline in the header; this file gives the target a source.
#include "CBPFRuntimeSupport.h"
