package dev.tandem.core.engine;

import dev.tandem.core.TandemException;
import dev.tandem.core.compute.cpu.CpuBackend;
import dev.tandem.core.model.CausalLm;
import dev.tandem.core.model.CheckpointEdits;
import dev.tandem.core.model.FixtureSupport;
import dev.tandem.core.model.Models;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Prompts the model cannot take are refused before any work, with a message that says which token or limit. */
class PromptValidationTest {
    private static final String MIXTRAL = "mixtral-tiny";
    private static final int VOCAB = 512; // vocab_size in the fixture's config.json

    @TempDir
    Path temp;

    @Test
    void shouldRejectInputIdPastTheVocabularyNamingIdAndIndex() {
        String message = generateFailure(FixtureSupport.dir(MIXTRAL), new int[] {1, 5, VOCAB, 7});

        assertEquals("request 0: input id 512 at index 2 is outside the vocabulary [0, 512)", message);
    }

    @Test
    void shouldRejectNegativeInputIdNamingIdAndIndex() {
        String message = generateFailure(FixtureSupport.dir(MIXTRAL), new int[] {-1});

        assertEquals("request 0: input id -1 at index 0 is outside the vocabulary [0, 512)", message);
    }

    @Test
    void shouldRejectPromptLongerThanTheContextNamingBothLengths() {
        Path dir = CheckpointEdits.copyFixture(MIXTRAL, temp.resolve("short-context"));
        CheckpointEdits.editJson(dir.resolve("config.json"), c -> c.put("max_position_embeddings", 4));

        String message = generateFailure(dir, new int[] {1, 2, 3, 4, 5});

        assertEquals("request 0: the prompt has 5 tokens, longer than the model's context of 4", message);
    }

    @Test
    void shouldRejectEmptyPrompt() {
        assertEquals("request 0: the prompt is empty", generateFailure(FixtureSupport.dir(MIXTRAL), new int[0]));
    }

    private static String generateFailure(Path dir, int[] prompt) {
        try (CausalLm lm = Models.load(dir, new CpuBackend(1), 16)) {
            Generator generator = new Generator(lm, lm.newKvCache(64, 16));
            return assertThrows(TandemException.class,
                    () -> generator.generate(List.of(Request.greedy(prompt, 4)))).getMessage();
        }
    }
}
