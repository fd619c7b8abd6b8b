package dev.tandem.attention;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.core.TandemException;
import dev.tandem.core.engine.Request;
import dev.tandem.core.sampling.SamplingParams;

/**
 * The attention node's line protocol, one JSON object per line each way:
 * <pre>
 * → {"id":"r1","input_ids":[1,2,3],"max_tokens":12,"temperature":0,"top_p":1,"seed":0,
 *    "ignore_eos":false,"logits_out":"/tmp/r1.safetensors"}
 * ← {"id":"r1","output_ids":[…],"finish_reason":"length"}   or   {"id":"r1","error":"…"}
 * → {"stats":true}        ← {"stats":{…}}
 * → {"reset_stats":true}  ← {"reset_stats":true}
 * </pre>
 * {@code logits_out} (optional) asks for the logits at every prompt position, written as a
 * safetensors file holding one float32 tensor {@code logits}.
 */
final class RequestLines {
    private RequestLines() {
    }

    static Request request(JsonNode r) {
        JsonNode ids = r.get("input_ids");
        if (ids == null || !ids.isArray()) {
            throw new TandemException("request needs an array 'input_ids'");
        }
        int[] prompt = new int[ids.size()];
        for (int i = 0; i < prompt.length; i++) {
            if (!ids.get(i).canConvertToInt()) {
                throw new TandemException("input_ids[" + i + "] is not an integer: " + ids.get(i));
            }
            prompt[i] = ids.get(i).asInt();
        }
        SamplingParams sampling;
        try {
            sampling = new SamplingParams((float) r.path("temperature").asDouble(0), (float) r.path("top_p").asDouble(1),
                    r.path("seed").asLong(0));
        } catch (IllegalArgumentException e) {
            throw new TandemException(e.getMessage());
        }
        return new Request(prompt, r.path("max_tokens").asInt(16), sampling, !r.path("ignore_eos").asBoolean(false),
                r.path("logits_out").isTextual());
    }
}
