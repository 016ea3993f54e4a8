package org.arabicnews.analysis;

import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.ar.ArabicStemFilter;
import org.elasticsearch.plugin.NamedComponent;
import org.elasticsearch.plugin.analysis.TokenFilterFactory;

/**
 * The stock {@code arabic_stem} token filter: Lucene's light stemmer (definite article and common
 * prefixes, then suffixes). Tokens marked as keywords (keyword_marker) are left alone.
 */
@NamedComponent("arabic_stem")
public class ArabicStemFactory implements TokenFilterFactory {

    @Override
    public TokenStream create(TokenStream tokenStream) {
        return new ArabicStemFilter(tokenStream);
    }
}
