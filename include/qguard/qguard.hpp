// The one header a program needs: qguard's whole public API.
#pragma once

#include "qguard/error.hpp"
#include "qguard/model.hpp"
