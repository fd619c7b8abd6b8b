package dev.tandem.core.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.core.TandemException;
import dev.tandem.core.sampling.SamplingParams;

/**
 * The nodes' request protocol (attention nodes and prompt nodes), one JSON object per line each
 * way, over a node's stdin/stdout or a TCP connection from the scheduler:
 * <pre>
 * → {"id":"r1","input_ids":[1,2,3],"max_tokens":12,"temperature":0,"top_p":1,"seed":0,
 *    "ignore_eos":false,"stream":true,"logits_out":"/tmp/r1.safetensors"}
 * ← {"id":"r1","token":5}                      each generated token, when "stream" is true
 * ← {"id":"r1","output_ids":[…],"finish_reason":"length"}   or   {"id":"r1","error":"…"}
 * → {"cancel":"r1"}                            stop it and free its KV blocks
 * ← {"node_failed":true,"error":"…"}           the node is going down; error lines for its requests follow
 * → {"stats":true}        ← {"stats":{…}}
 * → {"reset_stats":true}  ← {"reset_stats":true}
 * </pre>
 * Splitwise adds a KV transfer id: a prompt node given {@code "kv_to":T,"kv_transfer":X} runs
 * only the prefill, streams each layer's keys and values to token machine T, and ends with
 * finish reason "prefilled" after the first token; token machine T given {@code "kv_transfer":X}
 * reserves the request's blocks, waits for the KV, and generates from the second token on (its
 * token lines leave out the first, which the prompt node reported; its output ids hold it).
 * {@code logits_out} (optional) asks for the logits at every prompt position, written as a
 * safetensors file holding one float32 tensor {@code logits}.
 */
public final class RequestLines {
    private RequestLines() {
    }

    /** Writes {@code request}'s fields into the line {@code into}. */
    public static ObjectNode write(Request request, ObjectNode into) {
        var ids = into.putArray("input_ids");
        for (int id : request.prompt()) {
            ids.add(id);
        }
        into.put("max_tokens", request.maxTokens());
        into.put("temperature", request.sampling().temperature());
        into.put("top_p", request.sampling().topP());
        into.put("seed", request.sampling().seed());
        into.put("ignore_eos", !request.stopAtEos());
        return into;
    }

    public static Request request(JsonNode r) {
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
