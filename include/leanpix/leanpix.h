/*
 * leanpix/leanpix.h - the whole public API of libleanpix.
 *
 * leanpix re-encodes images with a small, predictable memory footprint: images move as
 * strips through a pull pipeline, every big buffer is counted, and limits are checked
 * from headers before pixels are allocated. See README.md and docs/design.md.
 */
#ifndef LEANPIX_LEANPIX_H
#define LEANPIX_LEANPIX_H

#define LEANPIX_VERSION "0.1.0"

#include "leanpix/status.h"
#include "leanpix/mem.h"
#include "leanpix/image.h"
#include "leanpix/io.h"
#include "leanpix/pipeline.h"
#include "leanpix/codec.h"
#include "leanpix/ops.h"
#include "leanpix/plan.h"
#include "leanpix/convert.h"
#include "leanpix/batch.h"
#include "leanpix/server.h"
#include "leanpix/profile.h"
#include "leanpix/machine.h"

#endif
