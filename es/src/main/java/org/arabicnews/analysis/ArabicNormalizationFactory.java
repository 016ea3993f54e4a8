package org.arabicnews.analysis;

import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.ar.ArabicNormalizationFilter;
import org.elasticsearch.plugin.NamedComponent;
import org.elasticsearch.plugin.analysis.TokenFilterFactory;

/**
 * The stock {@code arabic_normalization} token filter: hamza/madda alef forms to bare alef, alef maksura
 * to yeh, teh marbuta to heh, tatweel and harakat removed.
 * Also applied when normalizing multi-term queries (prefix, wildcard, fuzzy), as the stock filter is.
 */
@NamedComponent("arabic_normalization")
public class ArabicNormalizationFactory implements TokenFilterFactory {

    @Override
    public TokenStream create(TokenStream tokenStream) {
        return new ArabicNormalizationFilter(tokenStream);
    }

    @Override
    public TokenStream normalize(TokenStream tokenStream) {
        return create(tokenStream);
    }
}
