package org.arabicnews.analysis;

import java.util.List;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.CharArraySet;
import org.apache.lucene.analysis.ar.ArabicAnalyzer;
import org.elasticsearch.plugin.Inject;
import org.elasticsearch.plugin.NamedComponent;
import org.elasticsearch.plugin.analysis.AnalyzerFactory;

/**
 * The stock {@code arabic} analyzer: standard tokenizer, lowercase, decimal_digit, stop (_arabic_),
 * arabic_normalization, keyword_marker (stem_exclusion), arabic_stem. That chain is exactly Lucene's
 * {@link ArabicAnalyzer}, which is what stock Elasticsearch builds too.
 * Stop-word files ({@code stopwords_path}) are not supported.
 */
@NamedComponent("arabic")
public class ArabicAnalyzerFactory implements AnalyzerFactory {

    private final CharArraySet stopwords;
    private final CharArraySet stemExclusion;

    @Inject
    public ArabicAnalyzerFactory(ArabicAnalyzerSettings settings) {
        this.stopwords = parseStopwords(settings.stopwords());
        this.stemExclusion = new CharArraySet(settings.stemExclusion(), false);
    }

    static CharArraySet parseStopwords(List<String> words) {
        if (words.isEmpty() || (words.size() == 1 && "_arabic_".equals(words.get(0)))) {
            return ArabicAnalyzer.getDefaultStopSet();
        }
        if (words.size() == 1 && "_none_".equals(words.get(0))) {
            return CharArraySet.EMPTY_SET;
        }
        return new CharArraySet(words, false);
    }

    @Override
    public Analyzer create() {
        return new ArabicAnalyzer(stopwords, stemExclusion);
    }
}
