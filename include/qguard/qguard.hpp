// The one header a program needs: qguard's whole public API.
#pragma once

#include "qguard/error.hpp"
#include "qguard/model.hpp"
#include "qguard/classifier.hpp"
#include "qguard/conversation.hpp"
#include "qguard/json.hpp"
#include "qguard/tokenizer.hpp"
#include "qguard/verdict.hpp"
